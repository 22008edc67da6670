"""Stage 1: Multi-Scale Skeletal Tokenization (HiPART supplement Alg. 1; docs/design.md, "MSST").

Data flow (B frames; M_s = 17 part tokens, M_d = 17 r dense tokens, r per part; token m of the dense grid
belongs to part m // r):

    z_d = E_f(x_f)                       (B, M_d, D)   96 fine joints -> dense token features
    z_s = E_d(z_d)                       (B, 17, D)    dense tokens -> sparse (part) token features
    q_s, ẑ_s = Q_s(z_s)                                sparse codebook C_s
    z'_d = W [z_d, D_s(ẑ_s)]             (B, M_d, D)   D_s lifts each part token to its r dense slots
    q_d, ẑ_d = Q_d(z'_d)                               dense codebook C_d
    x̂_d = D_d(ẑ_d), x̂_f = D_f([ẑ_d, D_s(ẑ_s)]),  p_A = P_A([ẑ_d, D_s(ẑ_s)])

Poses enter root-centred and scaled by the sparse pose (see :class:`PoseNormalizer`), which is stored with the
model and inverted on output, so reconstructions come back in pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hipart.checkpoints import load_model
from hipart.config import MSSTConfig, architecture, from_architecture
from hipart.models.mixer import TokenDecoder, TokenEncoder
from hipart.models.quantizer import EMAQuantizer
from hipart.skeleton import H36M, H36M_ACTIONS

KIND = "msst"  # checkpoint kind
SMOOTH_L1_BETA = 0.05  # in root-RMS units (~5 px for a 100 px RMS body); not fixed by the paper, the paper gives none


class PoseNormalizer:
    """Root-centre on the sparse pelvis and divide by the sparse pose's RMS radius, per frame.

    ``x_norm = (x - x_s[pelvis]) / rms(x_s - x_s[pelvis])``: invariant to where the person stands and how large
    they appear, and computable from the observed sparse pose alone (what HiARM gets at test time).
    """

    kind = "root_rms"
    root = 0

    @staticmethod
    def frame(x_s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        root = x_s[..., PoseNormalizer.root:PoseNormalizer.root + 1, :]
        scale = (x_s - root).pow(2).sum(-1).mean(-1, keepdim=True).sqrt().clamp_min(1e-6)[..., None]
        return root, scale

    @staticmethod
    def normalize(x: torch.Tensor, root: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        return (x - root) / scale

    @staticmethod
    def denormalize(x: torch.Tensor, root: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        return x * scale + root

    @classmethod
    def describe(cls) -> dict[str, Any]:
        return {"kind": cls.kind, "root_joint": cls.root, "formula": "(x - x_s[0]) / rms(x_s - x_s[0])"}


def part_token_mask(parts: np.ndarray | None, tokens_per_part: int, num_inputs: int) -> torch.Tensor:
    """(17 r, N) mask: the r tokens of part p read the inputs labelled p.

    A part with no inputs at this level (e.g. no fine cluster is nearest to one hip) reads its nearest ancestor
    part's inputs; unlabelled inputs (-1 everywhere: no regressor was given) give a free projection.
    """
    if parts is None or (np.asarray(parts) < 0).all():
        return torch.ones(H36M.num_joints * tokens_per_part, num_inputs)
    parts = np.asarray(parts)
    mask = torch.zeros(H36M.num_joints * tokens_per_part, num_inputs)
    for p in range(H36M.num_joints):
        q = p
        while q >= 0 and not (parts == q).any():
            q = H36M.parents[q]
        members = torch.as_tensor(parts == q) if q >= 0 else torch.ones(num_inputs, dtype=torch.bool)
        mask[p * tokens_per_part:(p + 1) * tokens_per_part] = members.float()
    return mask


def group_mask(num_groups: int, group_size: int) -> torch.Tensor:
    """(G, G k) mask: output g reads inputs g k .. g k + k - 1."""
    return torch.kron(torch.eye(num_groups), torch.ones(1, group_size))


@dataclass
class MSSTOutput:
    z_s: torch.Tensor
    z_d: torch.Tensor  # z'_d, the features the dense codebook quantizes
    zq_s: torch.Tensor
    zq_d: torch.Tensor
    q_s: torch.Tensor  # (B, 17)
    q_d: torch.Tensor  # (B, M_d)
    x_d: torch.Tensor  # (B, 48, 2) normalized
    x_f: torch.Tensor  # (B, 96, 2) normalized
    action_logits: torch.Tensor
    commitment: torch.Tensor
    perplexity_s: torch.Tensor
    perplexity_d: torch.Tensor


class MSST(nn.Module):
    def __init__(self, cfg: MSSTConfig, num_fine: int, num_dense: int, fine_parts: np.ndarray | None = None,
                 num_actions: int = len(H36M_ACTIONS)) -> None:
        super().__init__()
        self.cfg = cfg
        self.num_fine, self.num_dense, self.num_actions = num_fine, num_dense, num_actions
        self.fine_parts = None if fine_parts is None else np.asarray(fine_parts, dtype=np.int64)
        r, D, J = cfg.tokens_per_part, cfg.dim, H36M.num_joints
        self.num_dense_tokens = J * r
        th, ch = cfg.token_hidden, cfg.channel_ratio * D
        fine_mask = part_token_mask(self.fine_parts, r, num_fine) if cfg.part_masked else None
        sparse_mask = group_mask(J, r) if cfg.part_masked else None
        self.E_f = TokenEncoder(num_fine, 2, J * r, D, cfg.num_blocks, th, ch, fine_mask)
        self.E_d = TokenEncoder(J * r, D, J, D, cfg.num_blocks, th, ch, sparse_mask)
        self.Q_s = EMAQuantizer(cfg.codebook_size_sparse, D, cfg.ema_decay, dead_threshold=cfg.dead_threshold,
                                restart_every=cfg.restart_every)
        self.Q_d = EMAQuantizer(cfg.codebook_size_dense, D, cfg.ema_decay, dead_threshold=cfg.dead_threshold,
                                restart_every=cfg.restart_every)
        self.D_s = nn.Sequential(nn.Linear(D, D), nn.GELU(), nn.Linear(D, r * D))
        self.fuse = nn.Linear(2 * D, D)
        self.D_d = TokenDecoder(J * r, D, num_dense, D, cfg.decoder_blocks, th, ch)
        self.D_f = TokenDecoder(J * r, 2 * D, num_fine, D, cfg.decoder_blocks, th, ch)
        self.P_A = nn.Sequential(nn.LayerNorm(2 * D), nn.Linear(2 * D, D), nn.GELU(), nn.Linear(D, num_actions))

    # ------------------------------------------------------------------ pieces shared with HiARM
    def lift(self, zq_s: torch.Tensor) -> torch.Tensor:
        """D_s: (B, 17, D) part tokens -> (B, 17 r, D) on the dense token grid."""
        B, J, D = zq_s.shape
        return self.D_s(zq_s).reshape(B, J * self.cfg.tokens_per_part, D)

    def decode(self, q_s: torch.Tensor, q_d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Token indices (B, 17), (B, 17 r) -> normalized x̂_d (B, 48, 2), x̂_f (B, 96, 2)."""
        zq_s, zq_d = self.Q_s.lookup(q_s), self.Q_d.lookup(q_d)
        return self._decode(zq_d, self.lift(zq_s))

    def _decode(self, zq_d: torch.Tensor, lifted: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.D_d(zq_d), self.D_f(torch.cat([zq_d, lifted], dim=-1))

    # ------------------------------------------------------------------ Alg. 1
    def forward(self, x_f: torch.Tensor) -> MSSTOutput:
        """Normalized fine pose (B, 96, 2) -> tokens, reconstructions and action logits."""
        z_d = self.E_f(x_f)
        z_s = self.E_d(z_d)
        qs = self.Q_s(z_s)
        lifted = self.lift(qs.z_q)
        z_d2 = self.fuse(torch.cat([z_d, lifted], dim=-1))
        qd = self.Q_d(z_d2)
        x_d, x_f_hat = self._decode(qd.z_q, lifted)
        logits = self.P_A(torch.cat([qd.z_q, lifted], dim=-1).mean(dim=1))
        return MSSTOutput(z_s, z_d2, qs.z_q, qd.z_q, qs.indices, qd.indices, x_d, x_f_hat, logits,
                          qs.commitment + qd.commitment, qs.perplexity, qd.perplexity)

    @torch.no_grad()
    def tokenize(self, x_f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Token indices of normalized fine poses, the model in eval mode (no EMA updates)."""
        was = self.training
        self.eval()
        out = self.forward(x_f)
        self.train(was)
        return out.q_s, out.q_d

    def model_args(self) -> dict[str, Any]:
        """What rebuilds this model (saved in checkpoints)."""
        return {"cfg": architecture(self.cfg), "num_fine": self.num_fine, "num_dense": self.num_dense,
                "fine_parts": None if self.fine_parts is None else self.fine_parts.tolist(),
                "num_actions": self.num_actions}

    @classmethod
    def from_args(cls, args: dict[str, Any]) -> "MSST":
        fine_parts = None if args["fine_parts"] is None else np.asarray(args["fine_parts"])
        return cls(from_architecture(MSSTConfig, args["cfg"], KIND), args["num_fine"], args["num_dense"], fine_parts,
                   args["num_actions"])

    @classmethod
    def load(cls, path: str | Path) -> tuple["MSST", dict[str, Any]]:
        """A trained MSST (eval mode) and its checkpoint payload."""
        return load_model(path, KIND, cls.from_args)  # type: ignore[return-value]


def info_nce(anchors: torch.Tensor, positives: torch.Tensor, tau: float) -> torch.Tensor:
    """Mean InfoNCE over N pairs (N, D): pair i's positive is positives[i], every other row is a negative."""
    a = F.normalize(anchors, dim=-1)
    p = F.normalize(positives, dim=-1)
    logits = a @ p.t() / tau
    return F.cross_entropy(logits, torch.arange(len(a), device=a.device))


def msst_loss(out: MSSTOutput, x_d: torch.Tensor, x_f: torch.Tensor, action: torch.Tensor, cfg: MSSTConfig
              ) -> tuple[torch.Tensor, dict[str, float]]:
    """L1 = smooth-L1(x̂_d, x_d) + smooth-L1(x̂_f, x_f) + β commitment + λ_local InfoNCE + λ_global CE(action)."""
    recon_d = F.smooth_l1_loss(out.x_d, x_d, beta=SMOOTH_L1_BETA)
    recon_f = F.smooth_l1_loss(out.x_f, x_f, beta=SMOOTH_L1_BETA)
    B, J, D = out.z_s.shape
    # On the encoder features, not the codes: many (frame, part) pairs share a code, which would make identical
    # anchors of different pairs "negatives" of each other (measured: it stalls reconstruction at ~40 px).
    dense_mean = out.z_d.reshape(B, J, cfg.tokens_per_part, D).mean(dim=2)
    local = info_nce(out.z_s.reshape(B * J, D), dense_mean.reshape(B * J, D), cfg.tau)
    glob = F.cross_entropy(out.action_logits, action)
    total = recon_d + recon_f + cfg.beta * out.commitment + cfg.lambda_local * local + cfg.lambda_global * glob
    terms = {"loss": total.item(), "recon_d": recon_d.item(), "recon_f": recon_f.item(),
             "commitment": out.commitment.item(), "local": local.item(), "global": glob.item(),
             "perplexity_s": out.perplexity_s.item(), "perplexity_d": out.perplexity_d.item()}
    return total, terms

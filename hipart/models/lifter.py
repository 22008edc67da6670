"""Stage 3: the lifter. 2D joints in (17 sparse, or 17 + 48 dense + 96 fine), the 17 Human3.6M joints in 3D out
(root-relative mm).

The paper fixes "patch embedding, vanilla spatial transformer encoder, regression head" over the joints concatenated
along the joint axis; the rest is left open by the paper and chosen here by measurement (docs/design.md, "The lifter"):

- Input features (``features``): ``relative`` gives each joint its position relative to the root and relative to
  its *anchor*: a sparse joint's kinematic parent, a dense or fine joint's body part (the sparse joint the hierarchy
  assigns it to); the root's anchor offset is its screen position. The 3D information the dense and fine levels add
  is in offsets of a few pixels between surface points and their bones; in screen coordinates they are buried under
  the joints' large positions. ``absolute`` is the screen-normalized position alone (VideoPose3D's input).
- ``standardize``: every feature of every joint is shifted and scaled by its mean and standard deviation on the
  training split (:meth:`Lifter.fit_standardization`, stored with the weights).
- Patch embedding (``embedding``): ``joint`` gives every input joint its own linear map (the joint's identity is in
  its weights); ``shared`` is one linear map plus a learned per-joint vector.
- Tokens (``tokens``): ``joints``, one token per input joint (the paper's literal reading); ``sparse+parts``, a
  token per sparse joint and a token per body part whose embedding sums the per-joint embeddings of the part's
  dense and fine joints (a patch of joints, as a vision transformer's patch is one of pixels: 34 tokens whatever
  the level count); ``parts``, one token per body part holding its sparse joint too (17). Both patch forms need
  ``embedding: joint``. A sparse input has 17 tokens in every form.
- Encoder: pre-LN transformer blocks (no dropout on the attention weights by default, so the fused attention kernel
  runs: :mod:`hipart.models.transformer`).
- Read-out (``readout``): ``all`` regresses the 51 outputs linearly from every output token (the concatenation);
  ``sparse`` reads each sparse joint's 3D position from its own output token.
- Detector confidence (``confidence``, off by default): every input joint reads one more feature, the detector's
  confidence c in [0, 1] of its sparse joint: a sparse joint its own, a dense or fine joint its body part's (the
  sparse joint its anchor is; :func:`confidence_joints`), since HiPART's dense and fine joints are made from the
  whole sparse pose and a part's points are as doubtful as the joint they hang on. c is read as it is, never
  standardized: it already lies in [0, 1], and on true keypoints it is 1 everywhere, so a standard deviation fitted
  there (floored at ``STD_FLOOR``) would blow any c below 1 up by hundreds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from hipart.checkpoints import load_model
from hipart.config import LifterConfig, architecture, from_architecture
from hipart.errors import HipartError
from hipart.models.transformer import Block
from hipart.skeleton import H36M
from hipart.units import MM_PER_METRE

KIND = "lifter"  # checkpoint kind
# Checkpoints written before the choices above (they store neither these settings nor "anchors") hold a plain
# spatial transformer: screen positions, one shared embedding, each sparse joint read from its own token. They load
# as exactly that.
LEGACY_DESIGN = {"features": "absolute", "standardize": False, "embedding": "shared", "tokens": "joints",
                 "readout": "sparse"}
NO_ANCHOR = -1  # the root: its anchor offset is its own screen position
STD_FLOOR = 2e-3  # smallest feature scale in screen-normalized units: one pixel of a 1000-pixel-wide image


def joint_anchors(num_inputs: int, parts: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
    """(num_inputs,) the joint each input joint's relative position is taken from: the sparse joints' kinematic
    parents (``NO_ANCHOR`` for the root), then for the dense and fine joints in stack order their body parts
    ``parts`` (K_d + K_f,) sparse joint indices; a missing label (-1) or no ``parts`` anchors them at the root."""
    num_sparse = H36M.num_joints
    if num_inputs < num_sparse:
        raise ValueError(f"a lifter reads at least the {num_sparse} sparse joints, got {num_inputs}")
    levels = np.zeros(num_inputs - num_sparse, np.int64) if parts is None else np.asarray(parts, np.int64)
    if levels.shape != (num_inputs - num_sparse,) or levels.max(initial=0) >= num_sparse:
        raise ValueError(f"part labels of shape {levels.shape} with values below {num_sparse} are needed for "
                         f"{num_inputs - num_sparse} dense and fine joints")
    return np.concatenate([np.array(H36M.parents), np.where(levels < 0, H36M.root, levels)]).astype(np.int64)


def relative_positions(x: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """Screen-normalized joints x (B, K, 2) and anchors (K,) -> (B, K, 4): each joint's position relative to the
    root (joint 0), then relative to its anchor (an anchor of ``NO_ANCHOR`` gives the position itself)."""
    anchored = x[:, anchors.clamp_min(0)] * (anchors >= 0)[:, None].to(x.dtype)
    return torch.cat([x - x[:, :1], x - anchored], dim=-1)


def confidence_joints(anchors: Sequence[int] | np.ndarray) -> np.ndarray:
    """(K,) the sparse joint whose confidence each input joint reads, from the input joints' ``anchors`` (K,)
    (:func:`joint_anchors`): a sparse joint its own, a dense or fine joint its body part (its anchor)."""
    anchors = np.asarray(anchors, np.int64)
    num_sparse = H36M.num_joints
    return np.concatenate([np.arange(num_sparse), anchors[num_sparse:]]).astype(np.int64)


def token_of_joint(anchors: np.ndarray, tokens: str) -> np.ndarray:
    """(K,) the token each input joint's embedding is added to: its own with ``joints``; with ``parts`` a sparse
    joint's own, a dense or fine joint its body part's (its anchor's); with ``sparse+parts`` the sparse joints keep
    tokens 0-16 and the dense and fine joints of body part p share token 17 + p."""
    anchors = np.asarray(anchors)
    num_sparse = H36M.num_joints
    if tokens == "joints":
        return np.arange(len(anchors))
    offset = num_sparse if tokens == "sparse+parts" else 0
    return np.concatenate([np.arange(num_sparse), offset + anchors[num_sparse:]])


class Lifter(nn.Module):
    def __init__(self, cfg: LifterConfig, anchors: Sequence[int] | np.ndarray) -> None:
        super().__init__()
        self.cfg = cfg
        anchors = np.asarray(anchors, np.int64)
        K, D = len(anchors), cfg.dim
        C = 4 if cfg.features == "relative" else 2
        self.register_buffer("anchors", torch.as_tensor(anchors))
        # the sparse joint whose confidence each input joint reads (derived from the anchors: not stored)
        self.register_buffer("confidence_joint", torch.as_tensor(confidence_joints(anchors)), persistent=False)
        # Set from the training inputs before training (fit_standardization); identity until then.
        self.register_buffer("feature_mean", torch.zeros(K, C))
        self.register_buffer("feature_std", torch.ones(K, C))
        E = C + 1 if cfg.confidence else C  # features the embedding reads: the positions, then c
        if cfg.embedding == "joint":
            self.embed_weight = nn.Parameter(torch.randn(K, E, D) / E ** 0.5)  # one linear map per joint
            self.embed_bias = nn.Parameter(torch.zeros(K, D))
        else:
            self.embed = nn.Linear(E, D)
            self.joint = nn.Parameter(torch.zeros(K, D))
            nn.init.normal_(self.joint, std=0.02)
        token = token_of_joint(anchors, cfg.tokens)
        num_tokens = int(token.max()) + 1
        if cfg.tokens != "joints":
            gather = torch.zeros(num_tokens, K)
            gather[torch.as_tensor(token), torch.arange(K)] = 1.0
            self.register_buffer("part_sum", gather)  # (tokens, K): sums the embeddings of each token's joints
        self.blocks = nn.ModuleList([Block(D, cfg.heads, cfg.dropout, cfg.attention_dropout, mlp_ratio=2)
                                     for _ in range(cfg.depth)])
        self.norm = nn.LayerNorm(D)
        num_out = H36M.num_joints * 3
        self.head = nn.Linear(num_tokens * D, num_out) if cfg.readout == "all" else nn.Linear(D, 3)
        # Start from every joint on the root: a randomly initialised head over 161 tokens starts metres away.
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    @property
    def num_inputs(self) -> int:
        return len(self.anchors)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, K, 2) screen-normalized joints -> (B, K, C) the features the embedding reads, before standardizing."""
        return relative_positions(x, self.anchors) if self.cfg.features == "relative" else x

    @torch.no_grad()
    def fit_standardization(self, x: torch.Tensor) -> None:
        """Set the per-joint feature means and standard deviations from training inputs x (N, K, 2) (no effect
        unless ``standardize``). Scales below ``STD_FLOOR`` are raised to it: a feature that hardly varies in training
        (the root relative to itself; a level a weak densifier hardly moves) must not blow up what varies at test
        time."""
        if not self.cfg.standardize:
            return
        f = torch.cat([self.features(x[i:i + 8192].to(self.feature_mean.device)) for i in range(0, len(x), 8192)])
        self.feature_mean.copy_(f.double().mean(dim=0))
        self.feature_std.copy_(f.double().std(dim=0).clamp_min(STD_FLOOR))

    def read_confidence(self, c: torch.Tensor | None, batch: int) -> torch.Tensor | None:
        """The confidence c (B, 17) of the sparse joints this model reads for ``batch`` frames: None for a model
        without ``cfg.confidence`` (it ignores c); c itself for one with it, which needs c (a one-line error
        otherwise)."""
        if not self.cfg.confidence:
            return None
        if c is None:
            raise HipartError("this lifter reads the detector's per-joint confidence (lifter.confidence): pass c "
                              f"({batch}, {H36M.num_joints}), ones for true keypoints")
        if tuple(c.shape) != (batch, H36M.num_joints):
            raise HipartError(f"confidence has shape {tuple(c.shape)}; the lifter needs one per sparse joint, "
                              f"({batch}, {H36M.num_joints})")
        return c

    def embedding_inputs(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """What the patch embedding reads, (B, K, C) or with ``cfg.confidence`` (B, K, C + 1): the standardized
        features of the screen-normalized joints x (B, K, 2), then each joint's sparse joint's confidence from c
        (B, 17), unstandardized (module docstring)."""
        z = (self.features(x) - self.feature_mean) / self.feature_std
        c = self.read_confidence(c, len(x))
        return z if c is None else torch.cat([z, c.to(z.dtype)[:, self.confidence_joint, None]], dim=-1)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """(B, K, 2) screen-normalized 2D and c (B, 17) the sparse joints' confidence (read with
        ``cfg.confidence``, else ignored) -> (B, 17, 3) root-relative mm."""
        z = self.embedding_inputs(x, c)
        if self.cfg.embedding == "joint":
            h = torch.einsum("bkc,kcd->bkd", z, self.embed_weight) + self.embed_bias
        else:
            h = self.embed(z) + self.joint
        if self.cfg.tokens != "joints":
            h = torch.einsum("pk,bkd->bpd", self.part_sum, h)
        for block in self.blocks:
            h = block(h)[0]
        h = self.norm(h)
        if self.cfg.readout == "all":
            # 1/sqrt(tokens): Adam moves every weight by about the learning rate, so without it a step moves the
            # output by ~tokens x width x lr (metres at lr 1e-3 over 161 tokens) and training starts unstably.
            out = self.head(h.flatten(1)).view(len(h), H36M.num_joints, 3) * h.shape[1] ** -0.5
        else:
            out = self.head(h[:, :H36M.num_joints])
        out = out * MM_PER_METRE  # the network works in metres
        return out - out[:, :1]

    def model_args(self) -> dict[str, Any]:
        return {"cfg": architecture(self.cfg),
                "anchors": self.anchors.tolist()}

    @classmethod
    def from_args(cls, args: dict[str, Any]) -> "Lifter":
        if "anchors" in args:
            return cls(from_architecture(LifterConfig, args["cfg"], KIND), args["anchors"])
        model = cls(from_architecture(LifterConfig, {**args["cfg"], **LEGACY_DESIGN}, KIND),
                    joint_anchors(args["num_inputs"]))
        # its weights come without the buffers, which the legacy design does not use: keep the built ones
        model._register_load_state_dict_pre_hook(_keep_buffers, with_module=True)
        return model

    @classmethod
    def load(cls, path: str | Path) -> tuple["Lifter", dict[str, Any]]:
        """A trained lifter (eval mode) and its checkpoint payload."""
        return load_model(path, KIND, cls.from_args)  # type: ignore[return-value]


def _keep_buffers(module: Lifter, state: dict[str, Any], prefix: str, *args: Any) -> None:
    """Load hook for legacy checkpoints: the anchors and the (identity) standardization they lack."""
    for name in ("anchors", "feature_mean", "feature_std"):
        state.setdefault(prefix + name, getattr(module, name))

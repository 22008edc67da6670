"""One-shot token classifier baseline (Fig. 4), in the manner of PCT (Geng et al., CVPR 2023): predicts every MSST
token at once from the sparse pose (no autoregression) and decodes them with the run's frozen MSST decoders.

The sparse pose is embedded per joint, mixed by MLP-Mixer blocks, projected along the joint axis onto the 17 + 17 r
token slots and classified into the sparse and dense codebooks; loss CE(q_s) + 1.5 CE(q_d), as HiARM's. The
frozen MSST travels inside the model (and its checkpoint) so predictions need nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hipart.config import FRACTION, POSITIVE, setting
from hipart.models.baselines.densify_gcn import densify_data
from hipart.models.baselines.registry import Method, SplitData, Tensors, register
from hipart.models.mixer import MixerBlock
from hipart.models.msst import MSST, PoseNormalizer
from hipart.skeleton import H36M


@dataclass
class OneShotSettings:
    dim: int = setting(128, 1)
    blocks: int = setting(4, 1)
    dropout: float = setting(0.1, **FRACTION)
    dense_weight: float = setting(1.5, 0)
    lr: float = setting(1e-3, **POSITIVE)
    weight_decay: float = setting(0.03, 0)
    batch_size: int = setting(256, 1)
    epochs: int = setting(25, 1)


class OneShotClassifier(nn.Module):
    def __init__(self, s: OneShotSettings, msst_args: dict[str, Any]) -> None:
        super().__init__()
        self.msst = MSST.from_args(msst_args).eval().requires_grad_(False)
        cfg = self.msst.cfg
        self.r = cfg.tokens_per_part
        J = H36M.num_joints
        slots = J * (1 + self.r)
        self.embed = nn.Linear(2, s.dim)
        self.mixer = nn.Sequential(*[MixerBlock(J, s.dim, 2 * s.dim, 2 * s.dim, s.dropout) for _ in range(s.blocks)])
        self.to_slots = nn.Linear(J, slots)
        self.norm = nn.LayerNorm(s.dim)
        self.head_s = nn.Linear(s.dim, cfg.codebook_size_sparse)
        self.head_d = nn.Linear(s.dim, cfg.codebook_size_dense)

    def train(self, mode: bool = True) -> "OneShotClassifier":
        super().train(mode)
        self.msst.eval()  # frozen: its quantizers must never update their codebooks
        return self

    def forward(self, x_s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalized x_s (B, 17, 2) -> logits (B, 17, K_s) and (B, 17 r, K_d)."""
        h = self.mixer(self.embed(x_s))
        h = self.norm(self.to_slots(h.transpose(1, 2)).transpose(1, 2))
        J = H36M.num_joints
        return self.head_s(h[:, :J]), self.head_d(h[:, J:])

    @torch.no_grad()
    def densify(self, x_s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits_s, logits_d = self(x_s)
        return self.msst.decode(logits_s.argmax(-1), logits_d.argmax(-1))


def _data(ctx: Any, s: OneShotSettings, split: str) -> SplitData:
    data = densify_data(ctx, split)
    q_s, q_d = ctx.tokens(split)
    return SplitData({**data.items, "q_s": q_s, "q_d": q_d.reshape(len(q_d), -1)}, data.frames)


def _loss(model: nn.Module, batch: Tensors, s: OneShotSettings) -> tuple[torch.Tensor, dict[str, float]]:
    logits_s, logits_d = model(batch["x_s"])
    ce_s = F.cross_entropy(logits_s.flatten(0, 1), batch["q_s"].flatten())
    ce_d = F.cross_entropy(logits_d.flatten(0, 1), batch["q_d"].flatten())
    acc_s = (logits_s.argmax(-1) == batch["q_s"]).float().mean()
    return ce_s + s.dense_weight * ce_d, {"loss": (ce_s + s.dense_weight * ce_d).item(), "ce_s": ce_s.item(),
                                         "ce_d": ce_d.item(), "acc_s": acc_s.item()}


def _predict(model: nn.Module, batch: Tensors, s: OneShotSettings) -> Tensors:
    d, f = model.densify(batch["x_s"])
    den = PoseNormalizer.denormalize
    return {"x_d": den(d, batch["root"], batch["scale"]), "x_f": den(f, batch["root"], batch["scale"])}


def _prepare(model: nn.Module, ctx: Any) -> None:
    model.msst.load_state_dict(ctx.msst().state_dict())


register(Method(
    name="densify-oneshot", task="densify",
    summary="PCT-style one-shot classifier of all MSST tokens from x_s (no autoregression), same MSST decoders",
    config=OneShotSettings, build=lambda s, info: OneShotClassifier(s, info["msst_args"]), data=_data,
    loss=_loss, predict=_predict, needs=lambda s: ("msst",), prepare=_prepare,
))

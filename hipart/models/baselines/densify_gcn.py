"""Direct densification baseline (Fig. 4): a graph network regresses the dense (48) and fine (96) 2D levels from
the sparse pose, in the spirit of Pose2Mesh's GraphCNN and HGN: residual SemGCN-style graph convolutions over the
17-joint skeleton, then learned upsampling along the joint axis (17 -> 48 -> 96) with a residual MLP per level.
Trained with L1 on the pose-normalized coordinates (the MSST normalization: root-centred, RMS-scaled by x_s).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from hipart.config import FRACTION, POSITIVE, setting
from hipart.models.baselines.graph import SemGraphConv, skeleton_adjacency
from hipart.models.baselines.registry import Method, SplitData, Tensors, register
from hipart.models.msst import PoseNormalizer


@dataclass
class GCNDensifierSettings:
    hidden: int = setting(128, 1)
    layers: int = setting(4, 1)  # residual graph blocks on the sparse skeleton
    dropout: float = setting(0.1, **FRACTION)
    lr: float = setting(1e-3, **POSITIVE)
    weight_decay: float = setting(0.0, 0)
    batch_size: int = setting(256, 1)
    epochs: int = setting(25, 1)


class GraphBlock(nn.Module):
    def __init__(self, dim: int, adjacency: torch.Tensor, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.g1, self.g2 = SemGraphConv(dim, dim, adjacency), SemGraphConv(dim, dim, adjacency)
        self.act, self.drop = nn.GELU(), nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.drop(self.g2(self.act(self.g1(self.norm(x)))))


class Upsample(nn.Module):
    """Joint-axis linear map (n_in -> n_out joints), then a residual channel MLP."""

    def __init__(self, n_in: int, n_out: int, dim: int, dropout: float) -> None:
        super().__init__()
        self.joints = nn.Linear(n_in, n_out)
        self.norm = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.joints(x.transpose(1, 2)).transpose(1, 2)
        return h + self.mlp(self.norm(h))


class GCNDensifier(nn.Module):
    def __init__(self, s: GCNDensifierSettings, levels: dict[str, int]) -> None:
        super().__init__()
        adj = skeleton_adjacency()
        self.embed = nn.Linear(2, s.hidden)
        self.blocks = nn.Sequential(*[GraphBlock(s.hidden, adj, s.dropout) for _ in range(s.layers)])
        self.up_d = Upsample(levels["s"], levels["d"], s.hidden, s.dropout)
        self.up_f = Upsample(levels["d"], levels["f"], s.hidden, s.dropout)
        self.head_d, self.head_f = nn.Linear(s.hidden, 2), nn.Linear(s.hidden, 2)

    def forward(self, x_s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalized x_s (B, 17, 2) -> normalized x_d (B, 48, 2), x_f (B, 96, 2)."""
        h = self.blocks(self.embed(x_s))
        d = self.up_d(h)
        f = self.up_f(d)
        return self.head_d(d), self.head_f(f)


def densify_data(ctx: Any, split: str) -> SplitData:
    """Shared by the densification baselines: normalized levels as items, pixel levels as the frames' truth."""
    t = ctx.pose_tensors(split)
    den = PoseNormalizer.denormalize
    items = {"x_s": t.x_s, "x_d": t.x_d, "x_f": t.x_f, "root": t.root, "scale": t.scale}
    frames = {"x_d": den(t.x_d, t.root, t.scale), "x_f": den(t.x_f, t.root, t.scale), "action": t.action}
    return SplitData(items, frames)


def _loss(model: nn.Module, batch: Tensors, s: GCNDensifierSettings) -> tuple[torch.Tensor, dict[str, float]]:
    d, f = model(batch["x_s"])
    l_d, l_f = (d - batch["x_d"]).abs().mean(), (f - batch["x_f"]).abs().mean()
    return l_d + l_f, {"loss": (l_d + l_f).item(), "l1_d": l_d.item(), "l1_f": l_f.item()}


def _predict(model: nn.Module, batch: Tensors, s: GCNDensifierSettings) -> Tensors:
    d, f = model(batch["x_s"])
    den = PoseNormalizer.denormalize
    return {"x_d": den(d, batch["root"], batch["scale"]), "x_f": den(f, batch["root"], batch["scale"])}


register(Method(
    name="densify-gcn", task="densify",
    summary="direct regression of x_d, x_f from x_s by a skeleton GCN with learned upsampling (Pose2Mesh/HGN-style)",
    config=GCNDensifierSettings, build=lambda s, info: GCNDensifier(s, info["levels"]),
    data=lambda ctx, s, split: densify_data(ctx, split), loss=_loss, predict=_predict,
))

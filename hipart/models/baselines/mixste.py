"""Temporal lifter after MixSTE (Zhang et al., CVPR 2022): alternating spatial and temporal transformer blocks,
sequence to sequence (f frames in, f 3D poses out), trained with MPJPE plus a velocity term (MPJVE).

Input ``sparse`` reads the 17 2D joints per frame; ``hier`` reads the 161 joints that HiPART produces per frame
(x_s plus HiARM's x̂_d, x̂_f: the supplement's temporal integration). Sequences are cut into consecutive windows of
f stored frames, the last one padded by repeating the final frame (padded frames carry no loss and no score);
build the dataset with stride 1 for real video rates. Training windows may overlap (``train_stride`` < f, more
windows from few sequences); test windows never do, so every test frame is scored once. Architecture defaults follow the published model
(width 512, 8 spatial + 8 temporal blocks, 8 heads, f = 243); learning rate and epochs are not from MixSTE. MixSTE's
weighted MPJPE and temporal-consistency terms are left out.

``confidence`` (off by default): every joint reads (x, y, c), c the detector's confidence of its sparse joint (a
dense or fine joint of the ``hier`` input takes its body part's, as the lifter does:
``hipart.models.lifter.confidence_joints``); see ``hipart.models.baselines.registry``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from hipart.config import FRACTION, POSITIVE, setting
from hipart.errors import HipartError
from hipart.models.baselines.registry import Method, SplitData, Tensors, register, with_confidence
from hipart.models.lifter import confidence_joints, joint_anchors
from hipart.models.transformer import Block
from hipart.skeleton import H36M
from hipart.units import MM_PER_METRE


@dataclass
class MixSTESettings:
    frames: int = setting(243, 1)
    input: str = setting("sparse", choices=("sparse", "hier"))  # sparse (17 joints) or hier (161 joints per frame from HiARM + MSST)
    dim: int = setting(512, 1)
    depth: int = setting(8, 1)
    heads: int = setting(8, 1)
    dropout: float = setting(0.1, **FRACTION)
    velocity_weight: float = setting(2.0, 0)
    lr: float = setting(4e-4, **POSITIVE)  # not fixed by the paper
    weight_decay: float = setting(0.0, 0)
    batch_size: int = setting(16, 1)  # windows per batch
    train_stride: int = setting(0, 0)  # frames between training windows; 0 = f (no overlap)
    epochs: int = setting(25, 1)  # not fixed by the paper
    # read the detector's per-joint confidence as a third input channel; stored only when on
    confidence: bool = setting(False, arch=True, omit_default=True)


class MixSTE(nn.Module):
    def __init__(self, s: MixSTESettings, num_joints: int, parts: Sequence[int] | np.ndarray | None = None) -> None:
        """``parts`` (num_joints - 17,): the body part (sparse joint) of every dense and fine joint of the ``hier``
        input, whose confidence such a joint reads (needed with ``confidence`` and more than 17 joints)."""
        super().__init__()
        if s.frames < 1 or s.input not in ("sparse", "hier"):
            raise ValueError(f"mixste: frames must be >= 1 and input sparse or hier, got {s.frames}, {s.input}")
        if s.confidence and num_joints > H36M.num_joints and parts is None:
            raise ValueError(f"mixste: the confidence of {num_joints} joints needs the part labels of the "
                             f"{num_joints - H36M.num_joints} dense and fine joints")
        self.s, self.num_joints = s, num_joints
        if s.confidence:  # the sparse joint whose confidence each input joint reads (rebuilt from parts: not stored)
            self.register_buffer("confidence_joint", torch.as_tensor(confidence_joints(joint_anchors(
                num_joints, parts if num_joints > H36M.num_joints else None))), persistent=False)
        self.embed = nn.Linear(3 if s.confidence else 2, s.dim)
        self.spatial_pos = nn.Parameter(torch.zeros(num_joints, s.dim))
        self.temporal_pos = nn.Parameter(torch.zeros(s.frames, s.dim))
        nn.init.normal_(self.spatial_pos, std=0.02)
        nn.init.normal_(self.temporal_pos, std=0.02)
        # no dropout on attention weights: keeps the fused kernel (see hipart.models.transformer)
        self.spatial = nn.ModuleList([Block(s.dim, s.heads, s.dropout, 0.0, mlp_ratio=2) for _ in range(s.depth)])
        self.temporal = nn.ModuleList([Block(s.dim, s.heads, s.dropout, 0.0, mlp_ratio=2) for _ in range(s.depth)])
        self.norm = nn.LayerNorm(s.dim)
        self.head = nn.Linear(s.dim, 3)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """(B, f, J, 2) screen-normalized 2D and c (B, f, 17) the sparse joints' confidence (read with
        ``confidence``, else ignored) -> (B, f, 17, 3) root-relative mm."""
        B, f, J, _ = x.shape
        if f != self.s.frames or J != self.num_joints:
            raise ValueError(f"mixste expects (B, {self.s.frames}, {self.num_joints}, 2), got {tuple(x.shape)}")
        D = self.s.dim
        if self.s.confidence and c is not None:
            if tuple(c.shape) != (B, f, H36M.num_joints):
                raise HipartError(f"this mixste model reads the sparse joints' confidence (its 'confidence' setting):"
                                  f" pass c of shape {(B, f, H36M.num_joints)}, got {tuple(c.shape)}")
            c = c[..., self.confidence_joint]  # (B, f, J): each joint its sparse joint's
        h = self.embed(with_confidence(x, c, self.s.confidence, "this mixste model")) + self.spatial_pos
        for k, (sp, tp) in enumerate(zip(self.spatial, self.temporal)):
            h = sp(h.reshape(B * f, J, D))[0].reshape(B, f, J, D)
            if k == 0:
                h = h + self.temporal_pos[:, None]
            h = tp(h.transpose(1, 2).reshape(B * J, f, D))[0].reshape(B, J, f, D).transpose(1, 2)
        out = self.head(self.norm(h[:, :, :H36M.num_joints])) * MM_PER_METRE
        return out - out[:, :, :1]


def sequence_windows(start: np.ndarray, end: np.ndarray, frames: int, stride: int = 0
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut every sequence into windows of ``frames`` starting every ``stride`` frames (0: ``frames``, i.e.
    consecutive): (W, f) frame indices (padded by repeating the last frame) and (W, f) validity. ``start``/``end``
    give each frame's sequence bounds, frames in order. Overlapping windows stop at the first one reaching the
    sequence's end."""
    if stride < 0:
        raise ValueError(f"window stride must be >= 0, got {stride}")
    step = stride or frames
    index, valid = [], []
    for a, b in sorted(set(zip(start.tolist(), end.tolist()))):
        starts = range(a, max(a + 1, b - frames + step), step) if step < frames else range(a, b, step)
        for w in starts:
            pos = np.arange(w, w + frames)
            index.append(np.minimum(pos, b - 1))
            valid.append(pos < b)
    return torch.from_numpy(np.stack(index)).long(), torch.from_numpy(np.stack(valid))


def _data(ctx: Any, s: MixSTESettings, split: str) -> SplitData:
    t = ctx.lift_frames(split, s.input)
    index, valid = sequence_windows(*ctx.sequence_bounds(split), s.frames,
                                    s.train_stride if split == "train" else 0)
    items = {"x": t.x[index], "X": t.X[index], "valid": valid, "frame_index": index,
             **({"c": t.c[index]} if s.confidence else {})}
    return SplitData(items, {"X": t.X, "action": torch.from_numpy(t.action).long()})


def _loss(model: nn.Module, batch: Tensors, s: MixSTESettings) -> tuple[torch.Tensor, dict[str, float]]:
    pred, target, valid = model(batch["x"], batch.get("c")), batch["X"], batch["valid"]
    w = valid.float()
    mpjpe = ((pred - target).norm(dim=-1).mean(-1) * w).sum() / w.sum()
    both = w[:, 1:] * w[:, :-1]
    vel = ((pred[:, 1:] - pred[:, :-1]) - (target[:, 1:] - target[:, :-1])).norm(dim=-1).mean(-1)
    mpjve = (vel * both).sum() / both.sum().clamp_min(1.0)
    loss = mpjpe + s.velocity_weight * mpjve
    return loss, {"loss": loss.item(), "mpjpe": mpjpe.item(), "mpjve": mpjve.item()}


def _joints(s: MixSTESettings, levels: dict[str, int]) -> int:
    return levels["s"] if s.input == "sparse" else levels["s"] + levels["d"] + levels["f"]


register(Method(
    name="mixste", task="lift",
    summary="temporal lifter after MixSTE (CVPR 2022): alternating spatial/temporal blocks, seq2seq",
    config=MixSTESettings, build=lambda s, info: MixSTE(s, _joints(s, info["levels"]), info.get("parts")),
    data=_data, loss=_loss, predict=lambda model, batch, s: {"X": model(batch["x"], batch.get("c"))},
    folder=lambda s: f"mixste-f{s.frames}-{s.input}",
    needs=lambda s: ("msst", "hiarm") if s.input == "hier" else (),
))

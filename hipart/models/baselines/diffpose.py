"""Diffusion lifter after DiffPose (Gong et al., CVPR 2023), single frame.

DiffPose refines a deterministic 3D estimate by reverse diffusion: a context network (their GCN pose estimator)
predicts a first 3D pose from the 2D pose; that pose, noised to the starting step, is denoised by a
graph-transformer (GraFormer-style) network that sees the 2D pose, the current 3D sample and the timestep, and
predicts the noise; DDIM (eta 0) takes a few large steps back to t = 0. Here the context network is trained
jointly (MPJPE) rather than pre-trained separately, and the forward process adds Gaussian noise to the 3D pose
(DiffPose fits a Gaussian mixture to the context's errors instead). Defaults are the published single-frame
setting: 51 training timesteps, linear betas 1e-4 to 1e-3, denoiser width 96, 5 layers, 4 heads, dropout 0.25;
sampling 2 DDIM steps over the first 24 timesteps, one hypothesis. Several hypotheses are averaged.

``confidence`` (off by default): the 2D pose both networks read is (x, y, c) per joint, c the detector's
confidence (``hipart.models.baselines.registry``), as HiARM's condition and the lifter read it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from hipart.config import FRACTION, POSITIVE, setting
from hipart.models.baselines.graph import GraphNet
from hipart.models.baselines.registry import Method, SplitData, Tensors, register, with_confidence
from hipart.skeleton import H36M
from hipart.units import MM_PER_METRE


@dataclass
class DiffPoseSettings:
    hidden: int = setting(96, 1)
    layers: int = setting(5, 1)
    heads: int = setting(4, 1)
    dropout: float = setting(0.25, **FRACTION)
    context_hidden: int = setting(96, 1)  # the context estimator (DiffPose's pre-trained GCN), trained jointly here
    context_layers: int = setting(3, 1)
    timesteps: int = setting(51, 2)
    beta_start: float = setting(1e-4, 0, 1, low_open=True, high_open=True)
    beta_end: float = setting(1e-3, 0, 1, low_open=True, high_open=True)
    sample_steps: int = setting(2, 1)  # DDIM steps at test time
    sample_from: int = setting(24, 1)  # the timestep sampling starts from
    hypotheses: int = setting(1, 1)
    seed: int = setting(0, 0)  # sampling noise: fixed seed, so inference is deterministic
    lr: float = setting(1e-3, **POSITIVE)  # not fixed by the paper
    weight_decay: float = setting(0.0, 0)
    batch_size: int = setting(1024, 1)
    epochs: int = setting(25, 1)  # not fixed by the paper (the lifter's schedule)
    # read the detector's per-joint confidence as a third input channel; stored only when on
    confidence: bool = setting(False, arch=True, omit_default=True)


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = t.float()[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class DiffPoseLifter(nn.Module):
    def __init__(self, s: DiffPoseSettings) -> None:
        super().__init__()
        if not 1 <= s.sample_steps <= s.sample_from <= s.timesteps:
            raise ValueError(f"need 1 <= sample_steps ({s.sample_steps}) <= sample_from ({s.sample_from}) "
                             f"<= timesteps ({s.timesteps})")
        self.s = s
        channels = 3 if s.confidence else 2  # (x, y) or (x, y, c) per joint
        self.context = GraphNet(channels, 3, s.context_hidden, s.context_layers, s.heads, s.dropout)
        self.denoiser = GraphNet(channels + 3, 3, s.hidden, s.layers, s.heads, s.dropout)
        self.time = nn.Sequential(nn.Linear(s.hidden, s.hidden), nn.GELU(), nn.Linear(s.hidden, s.hidden))
        betas = torch.linspace(s.beta_start, s.beta_end, s.timesteps, dtype=torch.float64)
        self.register_buffer("alpha_bar", torch.cumprod(1 - betas, 0).float(), persistent=False)

    def initial(self, x2d: torch.Tensor) -> torch.Tensor:
        """The 2D input (B, 17, 2 or 3: ``with_confidence``) -> the context estimate (B, 17, 3) in metres,
        root-relative."""
        y = self.context(x2d)
        return y - y[:, :1]

    def eps(self, x2d: torch.Tensor, y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        temb = self.time(timestep_embedding(t, self.s.hidden))[:, None]
        return self.denoiser(torch.cat([x2d, y], dim=-1), temb)

    def schedule(self) -> list[int]:
        """The DDIM timesteps, ascending: uniform skips over [0, sample_from)."""
        skip = self.s.sample_from // self.s.sample_steps
        return list(range(0, self.s.sample_from, skip))[: self.s.sample_steps]

    def forward(self, x2d: torch.Tensor, target_mm: torch.Tensor | None = None, c: torch.Tensor | None = None
                ) -> Any:
        """(B, 17, 2) screen-normalized 2D and c (B, 17) its per-joint confidence (read with ``confidence``, else
        ignored) -> (B, 17, 3) root-relative mm, by DDIM from the noised context pose. With ``target_mm``
        (B, 17, 3): the training loss and its terms instead (one forward, so DDP can wrap it)."""
        x2d = with_confidence(x2d, c, self.s.confidence, "this diffpose model")
        if target_mm is not None:
            return self.training_loss(x2d, target_mm)
        B, H = len(x2d), self.s.hypotheses
        gen = torch.Generator(device=x2d.device).manual_seed(self.s.seed)
        cond = x2d.repeat(H, 1, 1)
        seq = self.schedule()
        ab = self.alpha_bar
        start = self.initial(x2d).repeat(H, 1, 1)
        noise = torch.randn(start.shape, generator=gen, device=x2d.device, dtype=start.dtype)
        y = ab[seq[-1]].sqrt() * start + (1 - ab[seq[-1]]).sqrt() * noise
        for i, j in zip(reversed(seq), reversed([-1] + seq[:-1])):
            t = torch.full((len(y),), i, device=y.device, dtype=torch.long)
            e = self.eps(cond, y, t)
            y0 = (y - (1 - ab[i]).sqrt() * e) / ab[i].sqrt()
            a_next = ab[j] if j >= 0 else torch.ones((), device=y.device)
            y = a_next.sqrt() * y0 + (1 - a_next).sqrt() * e
        out = y.reshape(H, B, H36M.num_joints, 3).mean(0) * MM_PER_METRE
        return out - out[:, :1]

    def training_loss(self, x2d: torch.Tensor, X_mm: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """The 2D input (B, 17, 2 or 3: ``with_confidence``) and the true pose (B, 17, 3) mm -> the loss (context
        MPJPE in metres plus the noise MSE) and its terms."""
        target = X_mm / MM_PER_METRE
        ctx = self.initial(x2d)
        ctx_err = (ctx - target).norm(dim=-1).mean()
        t = torch.randint(0, self.s.timesteps, (len(x2d),), device=x2d.device)
        noise = torch.randn_like(target)
        ab = self.alpha_bar[t][:, None, None]
        noisy = ab.sqrt() * target + (1 - ab).sqrt() * noise
        eps_err = (self.eps(x2d, noisy, t) - noise).pow(2).mean()
        return ctx_err + eps_err, {"loss": (ctx_err + eps_err).item(), "context_mpjpe": ctx_err.item() * MM_PER_METRE,
                                   "noise_mse": eps_err.item()}


def _data(ctx: Any, s: DiffPoseSettings, split: str) -> SplitData:
    t = ctx.lift_frames(split, "sparse")
    items = {"x": t.x, "X": t.X, **({"c": t.c} if s.confidence else {})}
    return SplitData(items, {"X": t.X, "action": torch.from_numpy(t.action).long()})


def _loss(model: nn.Module, batch: Tensors, s: DiffPoseSettings) -> tuple[torch.Tensor, dict[str, float]]:
    return model(batch["x"], batch["X"], batch.get("c"))


register(Method(
    name="diffpose", task="lift",
    summary="diffusion lifter after DiffPose (CVPR 2023): GraFormer-style denoiser, DDIM, single frame",
    config=DiffPoseSettings, build=lambda s, info: DiffPoseLifter(s), data=_data, loss=_loss,
    predict=lambda model, batch, s: {"X": model(batch["x"], c=batch.get("c"))},
))

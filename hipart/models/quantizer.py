"""Vector quantizer with an EMA codebook (VQ-VAE-2 style), Laplace smoothing and dead-code restarts.

- Nearest code by Euclidean distance; straight-through gradient (the quantized output carries the encoder's
  gradient unchanged); the loss term is the commitment ``|z - sg(c)|^2`` only, codes move by EMA.
- EMA: ``N_k <- d N_k + (1-d) n_k``, ``S_k <- d S_k + (1-d) sum z``, code ``= S_k / N~_k`` with Laplace smoothing
  ``N~_k = (N_k + eps) / (N + K eps) * N``. Under DistributedDataParallel the batch counts and sums are summed
  over processes first, so every process keeps the same codebook.
- The codebook is initialised from the first training batch. Every ``restart_every`` steps, codes chosen fewer
  than ``dead_threshold`` times over those steps (all processes together) move onto random recent encoder outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn


@dataclass
class Quantized:
    z_q: torch.Tensor  # (..., D) straight-through quantized features
    indices: torch.Tensor  # (...,) code indices
    commitment: torch.Tensor  # scalar, |z - sg(c)|^2 averaged
    perplexity: torch.Tensor  # scalar, exp(entropy) of the batch's code use


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


class EMAQuantizer(nn.Module):
    def __init__(self, num_codes: int, dim: int, decay: float = 0.99, eps: float = 1e-5,
                 dead_threshold: float = 1.0, restart_every: int = 100, memory: int = 4096) -> None:
        super().__init__()
        self.num_codes, self.dim, self.decay, self.eps = num_codes, dim, decay, eps
        self.dead_threshold, self.restart_every = dead_threshold, restart_every
        self.register_buffer("codebook", torch.randn(num_codes, dim) * 0.1)
        self.register_buffer("cluster_size", torch.ones(num_codes))
        self.register_buffer("embed_sum", self.codebook.clone())
        self.register_buffer("initialized", torch.tensor(False))
        self.register_buffer("steps", torch.tensor(0, dtype=torch.long))
        self.register_buffer("hits", torch.zeros(num_codes))  # code use since reset_hits() (for usage reports)
        self.register_buffer("window_hits", torch.zeros(num_codes))  # code use since the last restart check
        # recent encoder outputs for restarts; saved with the model so a resumed run restarts codes identically
        self.register_buffer("recent", torch.zeros(memory, dim))
        self.register_buffer("recent_fill", torch.tensor(0, dtype=torch.long))

    def nearest(self, flat: torch.Tensor) -> torch.Tensor:
        d = (flat.pow(2).sum(1, keepdim=True) - 2 * flat @ self.codebook.t() + self.codebook.pow(2).sum(1)[None])
        return d.argmin(dim=1)

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        return F.embedding(indices, self.codebook)

    def forward(self, z: torch.Tensor) -> Quantized:
        flat = z.reshape(-1, self.dim)
        if self.training and not bool(self.initialized):
            self._initialise(flat.detach())
        indices = self.nearest(flat.detach())
        codes = self.lookup(indices).view_as(z)  # the codes before this batch's EMA step (VQ-VAE-2 order)
        if self.training:
            self._update(flat.detach(), indices)
        commitment = F.mse_loss(z, codes.detach())
        counts = torch.bincount(indices, minlength=self.num_codes).float()
        p = counts / counts.sum()
        perplexity = torch.exp(-(p * torch.log(p + 1e-10)).sum())
        if self.training:
            self.hits += counts
        return Quantized(z + (codes - z).detach(), indices.view(z.shape[:-1]), commitment, perplexity)

    @torch.no_grad()
    def _update(self, flat: torch.Tensor, indices: torch.Tensor) -> None:
        onehot = F.one_hot(indices, self.num_codes).to(flat.dtype)
        counts, sums = onehot.sum(0), onehot.t() @ flat
        if _distributed():
            dist.all_reduce(counts)
            dist.all_reduce(sums)
        self.window_hits += counts
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.embed_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        n = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.eps) / (n + self.num_codes * self.eps) * n
        self.codebook.copy_(self.embed_sum / smoothed[:, None])
        self._remember(flat)
        self.steps += 1
        if self.restart_every and int(self.steps) % self.restart_every == 0:
            self.restart_dead_codes()

    def _initialise(self, flat: torch.Tensor) -> None:
        pick = torch.randint(0, flat.shape[0], (self.num_codes,), device=flat.device)
        init = flat[pick] + 1e-3 * torch.randn(self.num_codes, self.dim, device=flat.device, dtype=flat.dtype)
        if _distributed():
            dist.broadcast(init, 0)
        self.codebook.copy_(init)
        self.embed_sum.copy_(init)
        self.cluster_size.fill_(1.0)
        self.initialized.fill_(True)

    def _remember(self, flat: torch.Tensor) -> None:
        m = self.recent.shape[0]
        take = flat[torch.randperm(flat.shape[0], device=flat.device)[:m]]
        start = int(self.recent_fill) % m
        end = min(start + len(take), m)
        self.recent[start:end] = take[: end - start]
        self.recent_fill += len(take)

    @torch.no_grad()
    def restart_dead_codes(self) -> int:
        """Move codes used fewer than dead_threshold times since the last check onto random recent encoder outputs."""
        dead = (self.window_hits < self.dead_threshold).to(torch.uint8)
        self.window_hits.zero_()
        if _distributed():
            dist.broadcast(dead, 0)
        dead = dead.bool()
        n_dead = int(dead.sum())
        available = min(int(self.recent_fill), self.recent.shape[0])
        if n_dead and available:
            pick = torch.randint(0, available, (n_dead,), device=self.recent.device)
            new = self.recent[pick].clone()
            if _distributed():
                dist.broadcast(new, 0)
            self.codebook[dead] = new
            self.embed_sum[dead] = new
            self.cluster_size[dead] = 1.0
        return n_dead

    def reset_hits(self) -> None:
        self.hits.zero_()

    def usage(self) -> int:
        """Distinct codes used since the last reset_hits()."""
        return int((self.hits > 0).sum())

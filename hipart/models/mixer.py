"""MLP-Mixer blocks and the PCT-style token encoder / decoder that MSST is built from.

Encoder (PCT, HiPART supplement Fig. 2): a linear embedding of each input joint (or token) -> L mixer blocks ->
a linear projection along the joint axis (N inputs -> M tokens) -> transpose, giving (B, M, D) token features.
The joint-axis projection can be masked so that each output token reads only chosen inputs (its body part).
"""

from __future__ import annotations

import torch
from torch import nn


class MixerBlock(nn.Module):
    """Pre-LayerNorm token-mixing MLP then channel-mixing MLP, each with a residual connection."""

    def __init__(self, num_tokens: int, dim: int, token_hidden: int, channel_hidden: int, dropout: float = 0.0
                 ) -> None:
        super().__init__()
        self.norm_tokens = nn.LayerNorm(dim)
        self.token_mlp = nn.Sequential(nn.Linear(num_tokens, token_hidden), nn.GELU(), nn.Dropout(dropout),
                                       nn.Linear(token_hidden, num_tokens), nn.Dropout(dropout))
        self.norm_channels = nn.LayerNorm(dim)
        self.channel_mlp = nn.Sequential(nn.Linear(dim, channel_hidden), nn.GELU(), nn.Dropout(dropout),
                                         nn.Linear(channel_hidden, dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, N, D)
        x = x + self.token_mlp(self.norm_tokens(x).transpose(1, 2)).transpose(1, 2)
        return x + self.channel_mlp(self.norm_channels(x))


class MaskedProjection(nn.Module):
    """Linear map along the joint axis, (B, N, D) -> (B, M, D); ``mask`` (M, N) zeroes weights a token may not read."""

    def __init__(self, num_in: int, num_out: int, mask: torch.Tensor | None = None) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_out, num_in))
        self.bias = nn.Parameter(torch.zeros(num_out, 1))
        m = torch.ones(num_out, num_in) if mask is None else mask.float()
        if m.shape != (num_out, num_in) or (m.sum(1) == 0).any():
            raise ValueError(f"projection mask must be ({num_out}, {num_in}) with at least one input per output")
        self.register_buffer("mask", m)
        with torch.no_grad():  # uniform init scaled by the number of inputs each output actually reads
            bound = 1.0 / m.sum(1, keepdim=True).sqrt()
            self.weight.copy_((torch.rand(num_out, num_in) * 2 - 1) * bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("mn,bnd->bmd", self.weight * self.mask, x) + self.bias


class TokenEncoder(nn.Module):
    """PCT encoder: (B, N, C_in) -> embed -> L mixer blocks -> joint-axis projection -> (B, M, D)."""

    def __init__(self, num_in: int, in_dim: int, num_tokens: int, dim: int, num_blocks: int, token_hidden: int,
                 channel_hidden: int, mask: torch.Tensor | None = None) -> None:
        super().__init__()
        self.embed = nn.Linear(in_dim, dim)
        self.blocks = nn.Sequential(*[MixerBlock(num_in, dim, token_hidden, channel_hidden)
                                      for _ in range(num_blocks)])
        self.norm = nn.LayerNorm(dim)
        self.project = MaskedProjection(num_in, num_tokens, mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(self.norm(self.blocks(self.embed(x))))


class TokenDecoder(nn.Module):
    """Tokens (B, M, C_in) -> joint-axis projection to N joints -> mixer blocks -> (B, N, out_dim) coordinates."""

    def __init__(self, num_tokens: int, in_dim: int, num_out: int, dim: int, num_blocks: int, token_hidden: int,
                 channel_hidden: int, out_dim: int = 2) -> None:
        super().__init__()
        self.embed = nn.Linear(in_dim, dim)
        self.project = MaskedProjection(num_tokens, num_out)
        self.blocks = nn.Sequential(*[MixerBlock(num_out, dim, token_hidden, channel_hidden)
                                      for _ in range(num_blocks)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, out_dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.blocks(self.project(self.embed(tokens)))))

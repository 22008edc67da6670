"""Graph layers over the 17-joint skeleton, shared by the GCN-based baselines (DiffPose denoiser, GCN densifier)."""

from __future__ import annotations

import torch
from torch import nn

from hipart.models.transformer import Block
from hipart.skeleton import H36M, Skeleton


def skeleton_adjacency(skeleton: Skeleton = H36M) -> torch.Tensor:
    """(J, J) bool: bones both ways plus self-loops."""
    adj = torch.eye(skeleton.num_joints, dtype=torch.bool)
    for parent, child in skeleton.bones:
        adj[parent, child] = adj[child, parent] = True
    return adj


class SemGraphConv(nn.Module):
    """Graph convolution in the manner of SemGCN (Zhao et al., CVPR 2019): separate weights for a joint itself and
    for its neighbours, and learnable edge weights, softmax-normalized over each joint's neighbourhood."""

    def __init__(self, cin: int, cout: int, adjacency: torch.Tensor) -> None:
        super().__init__()
        self.lin = nn.Linear(cin, 2 * cout, bias=False)
        self.bias = nn.Parameter(torch.zeros(cout))
        self.register_buffer("mask", adjacency.clone(), persistent=False)
        self.edge = nn.Parameter(torch.ones(adjacency.shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        own, other = self.lin(x).chunk(2, dim=-1)
        a = torch.softmax(self.edge.masked_fill(~self.mask, float("-inf")), dim=-1)
        eye = torch.eye(len(a), device=a.device, dtype=a.dtype)
        return (a * eye) @ own + (a * (1 - eye)) @ other + self.bias


class GraphAttentionLayer(nn.Module):
    """GraFormer-style layer: a pre-LN transformer block over the joints, then a residual graph convolution."""

    def __init__(self, dim: int, heads: int, dropout: float, adjacency: torch.Tensor) -> None:
        super().__init__()
        self.block = Block(dim, heads, dropout)
        self.norm = nn.LayerNorm(dim)
        self.gconv = SemGraphConv(dim, dim, adjacency)
        self.act, self.drop = nn.GELU(), nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block(x)[0]
        return x + self.drop(self.act(self.gconv(self.norm(x))))


class GraphNet(nn.Module):
    """Per-joint features in, per-joint features out: embedding, ``layers`` graph-attention layers, linear head."""

    def __init__(self, cin: int, cout: int, dim: int, layers: int, heads: int, dropout: float,
                 adjacency: torch.Tensor | None = None) -> None:
        super().__init__()
        adjacency = skeleton_adjacency() if adjacency is None else adjacency
        self.embed = nn.Linear(cin, dim)
        self.joint = nn.Parameter(torch.zeros(len(adjacency), dim))
        nn.init.normal_(self.joint, std=0.02)
        self.layers = nn.ModuleList([GraphAttentionLayer(dim, heads, dropout, adjacency) for _ in range(layers)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, cout)

    def forward(self, x: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, J, cin); ``extra`` (B, 1 or J, dim) is added after the embedding (e.g. a timestep embedding)."""
        h = self.embed(x) + self.joint
        if extra is not None:
            h = h + extra
        for layer in self.layers:
            h = layer(h)
        return self.head(self.norm(h))

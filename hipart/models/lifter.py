"""Stage 3: the lifter (DESIGN.md section 4). 2D joints in, the 17 Human3.6M joints in 3D out (root-relative mm).

Each input joint is a patch: its screen-normalized 2D position is embedded linearly and gets a learned joint
embedding; a vanilla (pre-LN) transformer encoder mixes all joints (no dropout on the attention weights by default, so
the fused attention kernel runs: 3-9x faster training on CPU for 161 joints); a linear head reads the output token of each of
the 17 sparse joints (always the first 17 inputs) and regresses its 3D position. Input modes: ``hier`` (x_s, x̂_d,
x̂_f: 161 joints), ``sparse`` (x_s only, the baseline), ``gt-hier`` (ground-truth dense levels, the toy experiment).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hipart.checkpoints import load_model
from hipart.config import LifterConfig
from hipart.models.transformer import Block
from hipart.skeleton import H36M
from hipart.units import MM_PER_METRE

KIND = "lifter"  # checkpoint kind
ARCHITECTURE = ("input", "dim", "depth", "heads", "dropout", "attention_dropout")


class Lifter(nn.Module):
    def __init__(self, cfg: LifterConfig, num_inputs: int) -> None:
        super().__init__()
        self.cfg, self.num_inputs = cfg, num_inputs
        D = cfg.dim
        self.embed = nn.Linear(2, D)
        self.joint = nn.Parameter(torch.zeros(num_inputs, D))
        nn.init.normal_(self.joint, std=0.02)
        self.blocks = nn.ModuleList([Block(D, cfg.heads, cfg.dropout, cfg.attention_dropout, mlp_ratio=2)
                                     for _ in range(cfg.depth)])
        self.norm = nn.LayerNorm(D)
        self.head = nn.Linear(D, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, 2) screen-normalized 2D -> (B, 17, 3) root-relative mm."""
        h = self.embed(x) + self.joint
        for block in self.blocks:
            h = block(h)[0]
        h = self.norm(h)
        out = self.head(h[:, :H36M.num_joints]) * MM_PER_METRE  # the network works in metres
        return out - out[:, :1]

    def model_args(self) -> dict[str, Any]:
        return {"cfg": {k: v for k, v in asdict(self.cfg).items() if k in ARCHITECTURE}, "num_inputs": self.num_inputs}

    @classmethod
    def from_args(cls, args: dict[str, Any]) -> "Lifter":
        return cls(LifterConfig(**args["cfg"]), args["num_inputs"])

    @classmethod
    def load(cls, path: str | Path) -> tuple["Lifter", dict[str, Any]]:
        """A trained lifter (eval mode) and its checkpoint payload."""
        return load_model(path, KIND, cls.from_args)  # type: ignore[return-value]

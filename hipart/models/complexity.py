"""Parameters and FLOPs of a model, counted rather than assumed (torch's FlopCounterMode)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, flop_registry, register_flop_formula, sdpa_flop_count

_CPU_ATTENTION = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
if _CPU_ATTENTION not in flop_registry:  # torch counts its CUDA attention kernels, not the CPU one: 0 FLOPs there

    @register_flop_formula(_CPU_ATTENTION)
    def _cpu_attention_flops(query: torch.Size, key: torch.Size, value: torch.Size, *args: Any,
                             out_shape: Any = None, **kwargs: Any) -> int:
        """Q K^T and P V of (B, heads, S, d) queries against (B, heads, L, d) keys: 2 x 2 B heads S L d (the mask
        changes no count)."""
        return sdpa_flop_count(query, key, value)


def count_params_flops(model: nn.Module, inputs: tuple[Any, ...] | torch.Tensor, per: int | None = None
                       ) -> dict[str, float]:
    """Parameters (all / trainable) and FLOPs of one forward on ``inputs``.

    FlopCounterMode counts a (m x k) @ (k x n) product as 2 m k n, attention as its two products (the CPU kernel
    included, registered above); elementwise work is not counted. ``per`` divides
    the FLOPs (e.g. by the batch size, for FLOPs per frame); by default the first input's leading size is used.
    """
    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    was = model.training
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(*inputs)
    model.train(was)
    flops = counter.get_total_flops()
    if per is None:
        per = inputs[0].shape[0] if isinstance(inputs[0], torch.Tensor) and inputs[0].dim() else 1
    return {"params": params, "trainable_params": trainable, "flops": float(flops), "flops_per_item": flops / per}

"""The transformer pieces shared by HiARM and the lifter."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hipart.models.complexity import count_params_flops
from hipart.models.transformer import Attention, Block, linear


def test_attention_equals_torch_multihead_attention():
    torch.manual_seed(0)
    ours, ref = Attention(32, 2, 0.0), nn.MultiheadAttention(32, 2, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(ours.qkv.weight)
        ref.in_proj_bias.copy_(ours.qkv.bias)
        ref.out_proj.weight.copy_(ours.out.weight)
        ref.out_proj.bias.copy_(ours.out.bias)
    x = torch.randn(3, 161, 32)
    torch.testing.assert_close(ours(x)[0], ref(x, x, x, need_weights=False)[0], atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="not divisible"):
        Attention(30, 4, 0.0)


def test_linear_written_for_the_compiler_equals_the_layer_with_and_without_bias(monkeypatch):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 16)
    layers = (nn.Linear(16, 8), nn.Linear(16, 8, bias=False))
    eager = [linear(layer, x) for layer in layers]
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)  # the branch torch.compile traces
    for layer, ref in zip(layers, eager):
        torch.testing.assert_close(ref, layer(x))
        torch.testing.assert_close(linear(layer, x), ref, atol=1e-6, rtol=1e-6)


def test_static_cache_steps_equal_the_growing_cache():
    torch.manual_seed(0)
    block = Block(32, 4, 0.0).eval()
    x = torch.randn(2, 9, 32)
    length = 12  # buffer longer than the 9 positions written: the tail stays zero and masked
    keys, values = torch.zeros(2, 4, length, 8), torch.zeros(2, 4, length, 8)
    key = torch.arange(length)
    with torch.no_grad():
        # five positions at once that see each other, then one position at a time that sees everything before it
        grown, kv = block(x[:, :5])
        static = [block.step(x[:, :5], keys, values, torch.arange(5), (key < 5).expand(5, length))]
        for t in range(5, 9):
            y, kv = block(x[:, t:t + 1], cache=kv)
            grown = torch.cat([grown, y], dim=1)
            static.append(block.step(x[:, t:t + 1], keys, values, torch.tensor([t]), key[None, :] <= t))
    torch.testing.assert_close(torch.cat(static, dim=1), grown, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(keys[:, :, :9], kv[0], atol=0, rtol=0)  # written in place, where they belong
    torch.testing.assert_close(values[:, :, :9], kv[1], atol=0, rtol=0)
    assert not keys[:, :, 9:].any() and not values[:, :, 9:].any()


def test_attention_flops_are_counted_on_the_cpu():
    # the projections (2 x 20 rows x 64 x (192 + 64)) and the two attention products (2 x 2 x 2 x 4 heads x 10 x 10 x 16)
    counts = count_params_flops(Attention(64, 4, 0.0), torch.zeros(2, 10, 64))
    assert counts["flops"] == 2 * 20 * 64 * (192 + 64) + 2 * 2 * 2 * 4 * 10 * 10 * 16

"""The transformer pieces shared by HiARM and the lifter."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hipart.models.transformer import Attention


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

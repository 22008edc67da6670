"""Pre-LN transformer pieces shared by HiARM (causal, with a key/value cache) and the lifter (bidirectional).

Two kinds of key/value cache for HiARM's decoding: ``forward`` takes the keys and values of earlier positions and
returns them grown by this call's (one ``torch.cat`` per call; shapes change every step), ``step`` writes this
call's keys and values in place into preallocated buffers of the full length and attends over all of it under a
mask (shapes fixed for every step, which ``torch.compile`` and CUDA graphs need). Under ``torch.compile``, ``step``
attends by ``attend`` (broadcast products and sums, which the compiler fuses into one loop nest for decoding's few
keys) and applies its linear layers by ``linear`` (product and bias apart, so the bias joins the next fused kernel).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, visible: torch.Tensor | None = None
           ) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) v of queries q (B, H, T, d) over keys and values k, v (B, H, L, d), ``visible``
    (T, L) True where a query may attend -> (B, H, T, d).

    Written as broadcast products and sums instead of a library attention call: over the few keys of decoding
    (4 token slots, at most 33 positions) ``torch.compile`` fuses it into one loop nest, where the call's setup
    and its threads cost more than the arithmetic.
    """
    scores = (q[..., :, None, :] * k[..., None, :, :]).sum(-1) * q.shape[-1] ** -0.5  # (B, H, T, L)
    if visible is not None:
        scores = scores.masked_fill(~visible, float("-inf"))
    return (scores.softmax(-1)[..., None] * v[..., None, :, :]).sum(-2)


FUSED_ATTENTION_MAX = 64  # query-key pairs up to which ``attend`` beats the library kernel when compiled


def linear(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """layer(x); under ``torch.compile`` as a matrix product and a separate bias add. Inductor lowers a linear layer
    on the CPU to ``addmm``, which first copies the bias into its output, a pass over memory per product; apart, the
    add fuses into the pointwise kernel that follows (residual, GELU, reshape)."""
    if torch.compiler.is_compiling():
        product = torch.matmul(x, layer.weight.t())
        return product if layer.bias is None else product + layer.bias
    return layer(x)


class Attention(nn.Module):
    """Multi-head self-attention with an optional key/value cache (keys and values of earlier positions)."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by {heads} heads")
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                cache: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        B, T, D = x.shape
        q, k, v = self.qkv(x).reshape(B, T, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        if cache is not None:
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(B, T, D)), (k, v)

    def step(self, x: torch.Tensor, keys: torch.Tensor | None = None, values: torch.Tensor | None = None,
             positions: torch.Tensor | None = None, visible: torch.Tensor | None = None) -> torch.Tensor:
        """Inference with fixed shapes: x (B, T, D) -> (B, T, D). Without a cache x attends to itself. With one,
        keys, values (B, heads, L, D / heads) receive x's keys and values at cache ``positions`` (T,), in place,
        and x attends over all L positions where ``visible`` (T, L) is True.

        Masked positions get attention weight exactly 0, but 0 x NaN is NaN: unwritten cache entries must be finite
        (zero-filled buffers).
        """
        B, T, D = x.shape
        q, k, v = linear(self.qkv, x).reshape(B, T, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        if keys is not None and values is not None and positions is not None:
            keys.index_copy_(2, positions, k)
            values.index_copy_(2, positions, v)
            k, v = keys, values
        if torch.compiler.is_compiling() and T * k.shape[2] <= FUSED_ATTENTION_MAX:
            y = attend(q, k, v, visible)  # fused by the compiler (a decoding step, a part's few tokens)
        else:  # eagerly, and for the 17-token prefix over the cache, the library kernel is faster
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=visible)
        return linear(self.out, y.transpose(1, 2).reshape(B, T, D))


class MLP(nn.Module):
    """The block's feed-forward part: ``hidden`` (width -> mlp_ratio x width), GELU, ``out`` (back to the width),
    dropout after the GELU and after ``out``.

    State dicts of the earlier ``nn.Sequential`` layout (keys ``0.*`` and ``3.*``) load: they are renamed on the way in.
    """

    LEGACY_KEYS = {"0.": "hidden.", "3.": "out."}  # nn.Sequential(Linear, GELU, Dropout, Linear, Dropout) positions

    def __init__(self, dim: int, hidden_dim: int, dropout: float) -> None:
        super().__init__()
        self.hidden = nn.Linear(dim, hidden_dim)
        self.out = nn.Linear(hidden_dim, dim)
        self.drop = nn.Dropout(dropout)
        self.register_load_state_dict_pre_hook(_rename_legacy_mlp_keys)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.out(self.drop(F.gelu(self.hidden(x)))))

    def step(self, x: torch.Tensor) -> torch.Tensor:
        """``forward`` in eval mode (no dropout), its linear layers by ``linear`` under ``torch.compile``."""
        return linear(self.out, F.gelu(linear(self.hidden, x)))


def _rename_legacy_mlp_keys(module: nn.Module, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
    """Load-state-dict pre-hook of ``MLP``: keys of the ``nn.Sequential`` layout -> the named layers' keys."""
    for key in [k for k in state_dict if k.startswith(prefix)]:
        rest = key[len(prefix):]
        for old, new in MLP.LEGACY_KEYS.items():
            if rest.startswith(old):
                state_dict[prefix + new + rest[len(old):]] = state_dict.pop(key)


class Block(nn.Module):
    """Pre-LN transformer block: attention then MLP (mlp_ratio x width), residuals, dropout.

    ``attn_dropout`` (default: ``dropout``) drops attention weights. Dropping them makes PyTorch fall back from the
    fused (flash) attention kernel to the unfused one and materialise a random mask the size of the attention map,
    which for long sequences (the lifter's 161 joints) costs more than the rest of the block together.
    """

    def __init__(self, dim: int, heads: int, dropout: float, attn_dropout: float | None = None,
                 mlp_ratio: int = 4) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, dropout if attn_dropout is None else attn_dropout)
        self.mlp = MLP(dim, mlp_ratio * dim, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                cache: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        a, kv = self.attn(self.norm1(x), mask, cache)
        x = x + self.drop(a)
        return x + self.mlp(self.norm2(x)), kv

    def step(self, x: torch.Tensor, keys: torch.Tensor | None = None, values: torch.Tensor | None = None,
             positions: torch.Tensor | None = None, visible: torch.Tensor | None = None) -> torch.Tensor:
        """``forward`` in eval mode with fixed shapes, optionally against a preallocated key/value cache (see
        ``Attention.step``)."""
        x = x + self.attn.step(self.norm1(x), keys, values, positions, visible)
        return x + self.mlp.step(self.norm2(x))

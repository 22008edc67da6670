"""HiARM's greedy decoding with fixed shapes: the twin of ``HiARM.generate`` that ``torch.compile`` and CUDA graphs
can run, on the same weights (it holds the HiARM, no parameters of its own) and to the same tokens
(docs/design.md, "HiARM").

``HiARM.generate`` grows its key/value cache by concatenation, so every step has other shapes. ``StaticDecoder``
writes keys and values in place into a zero-filled cache of all 2 * 17 - 1 positions and every step attends over
all of it under a mask, so every step has the same shapes: ``start`` once (the prefix), ``step`` 16 times with the
step index as a tensor, ``tokens`` once; ``decode`` runs them in a Python loop (no host synchronisation: capturable
as a CUDA graph), ``decode_looped`` runs the 16 steps inside one ``torch.while_loop``, so that ``torch.compile``
makes the whole decoding one program.

With decode groups (``hiarm.decode_groups``) of several parts, a step takes the visiting indices of its group's parts
(a 1-dim tensor: steps of groups of one size share their shapes), predicts them all from the same h and writes their
summaries at their positions under GCSAB's block-causal mask (``GCSAB.visible``); ``decode_looped`` then runs the
m - 1 steps unrolled (groups of different sizes do not fit one loop body), still one program when compiled.

``hipart.models.fast.FastDecoder`` runs these under inference mode, compiled, in reduced precision or as a CUDA
graph.

    q_s, q_d = StaticDecoder(hiarm).decode(x_s)    # == hiarm.generate(x_s) on CPU fp32
    q_s, q_d = StaticDecoder(hiarm).decode(x_s, c=c)  # a HiARM with hiarm.confidence: c (B, 17) read beside x_s
"""

from __future__ import annotations

from typing import Callable

import torch

from hipart.models.hiarm import HiARM

Cache = list[tuple[torch.Tensor, torch.Tensor]]  # per GCSAB block: keys, values (B, heads, L, D / heads)


class StaticDecoder:
    """Greedy decoding of ``hiarm`` with a static key/value cache; see the module docstring. Methods, not a module:
    the weights stay ``hiarm``'s (moving or loading ``hiarm`` moves or loads what this decodes with)."""

    def __init__(self, hiarm: HiARM) -> None:
        self.hiarm = hiarm

    def new_cache(self, batch: int, device: torch.device, dtype: torch.dtype = torch.float32) -> Cache:
        """Zero-filled keys and values (B, heads, max_length, dim / heads) for each GCSAB block (zeros, not
        uninitialised memory: a masked NaN would still poison the attention sums)."""
        heads, dim, gcsab = self.hiarm.cfg.heads, self.hiarm.cfg.dim, self.hiarm.gcsab
        shape = (batch, heads, gcsab.max_length, dim // heads)
        return [(torch.zeros(shape, device=device, dtype=dtype), torch.zeros(shape, device=device, dtype=dtype))
                for _ in gcsab.blocks]

    def start(self, cond: torch.Tensor, cache: Cache) -> torch.Tensor:
        """The prefix of the condition encoder's input (``HiARM.condition``: normalized sparse poses (B, 17, 2), or
        (B, 17, 3) with the confidence) into cache positions 0..16 -> the hidden state at the last prefix position
        (B, 1, D), which predicts part 0."""
        hiarm = self.hiarm
        J = hiarm.num_parts
        # the prefix sees all of itself and nothing after it: attend over views of the cache's first 17 positions
        # (writes land in the cache), unmasked, rather than over all 33 under a mask
        prefix_cache = [(keys[:, :, :J], values[:, :, :J]) for keys, values in cache]
        h = hiarm.gcsab.step(hiarm.prefix(cond), prefix_cache, hiarm.steps, None)
        # the layout ``step`` returns (row-major strides even for B = 1): one compiled step, one loop fit both
        return h[:, -1:].clone(memory_format=torch.contiguous_format)

    def group(self, t: int) -> torch.Tensor:
        """The argument of ``step`` and ``tokens`` for decode group t: with one part per group the step index as a
        0-dim tensor (every step the same shapes), else the visiting indices of the group's parts (n,)."""
        hiarm = self.hiarm
        if hiarm.single:
            return hiarm.steps[t]
        start = hiarm.group_starts[t]
        return hiarm.steps[start:start + hiarm.group_sizes[t]]

    def tokens(self, h: torch.Tensor, step: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Greedy tokens of the parts order[step] (``group``: a 0-dim step index or the visiting indices (n,) of a
        group) from the hidden state h (B, 1, D) -> sparse (B, n) and dense (B, n, r) token indices."""
        parts = step.view(-1)
        logits_s, logits_d = self.hiarm.head.step(h.expand(-1, parts.shape[0], -1), self.hiarm.order[parts])
        return logits_s.argmax(-1), logits_d.argmax(-1)

    def step(self, h: torch.Tensor, step: torch.Tensor, cache: Cache
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One decoding step: the greedy tokens of the parts order[step] (``group``; with one part per group,
        step k = 0..15 as a 0-dim tensor) from h (B, 1, D), their LSAB summaries written at cache positions
        17 + step -> tokens (B, n), (B, n, r) and the hidden state at the last of them (B, 1, D), which predicts the
        next group. Same shapes for every step of a group size."""
        hiarm = self.hiarm
        tok_s, tok_d = self.tokens(h, step)
        parts = step.view(-1)
        g = hiarm.lsab.step(tok_s, tok_d, hiarm.order[parts])
        positions = hiarm.num_parts + parts
        # (n, L): the group's own positions and everything before (with one part per group: causal)
        h = hiarm.gcsab.step(g, cache, positions, hiarm.gcsab.visible(positions))
        return tok_s, tok_d, h if parts.shape[0] == 1 else h[:, -1:]

    def decode(self, x_s: torch.Tensor, start: Callable | None = None, step: Callable | None = None,
               tokens: Callable | None = None, cache_dtype: torch.dtype = torch.float32,
               c: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Greedy decoding of x_s (B, 17, 2) normalized, with c (B, 17) the per-joint confidence (read with
        ``hiarm.confidence``, else ignored) -> token indices in joint order: q_s (B, 17), q_d (B, 17, r).
        ``start``, ``step``, ``tokens`` replace the methods of those names (e.g. by compiled versions)."""
        hiarm = self.hiarm
        m = hiarm.num_steps
        start, step, tokens = start or self.start, step or self.step, tokens or self.tokens
        cache = self.new_cache(x_s.shape[0], x_s.device, cache_dtype)
        h = start(hiarm.condition(x_s, c), cache)
        out_s, out_d = [], []
        for t in range(m - 1):
            tok_s, tok_d, h = step(h, self.group(t), cache)
            out_s.append(tok_s)
            out_d.append(tok_d)
        tok_s, tok_d = tokens(h, self.group(m - 1))
        q_s = torch.cat([*out_s, tok_s], dim=1)  # (B, 17) in visiting order
        q_d = torch.cat([*out_d, tok_d], dim=1)
        return q_s[:, hiarm.joint_rank], q_d[:, hiarm.joint_rank]

    def decode_looped(self, x_s: torch.Tensor, cache_dtype: torch.dtype = torch.float32,
                      c: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``decode`` with its 16 steps in one ``torch.while_loop`` (call under inference mode): under
        ``torch.compile`` the whole decoding is one program whose loop body is compiled once, with no Python, guard
        checks or returns to the caller between steps. The body writes the cache and the token buffers in place,
        which a while_loop allows in inference. Same tokens as ``decode``. Decode groups of several parts: the
        steps unrolled (``decode``), which ``torch.compile`` also makes one program."""
        hiarm = self.hiarm
        if not hiarm.single:
            return self.decode(x_s, cache_dtype=cache_dtype, c=c)
        B, J = x_s.shape[0], hiarm.num_parts
        cache = self.new_cache(B, x_s.device, cache_dtype)
        q_s = torch.zeros(B, J, dtype=torch.long, device=x_s.device)  # visiting order
        q_d = torch.zeros(B, J, hiarm.r, dtype=torch.long, device=x_s.device)

        def keep(step: torch.Tensor, tok_s: torch.Tensor, tok_d: torch.Tensor) -> None:
            q_s.index_copy_(1, step.view(1), tok_s)
            q_d.index_copy_(1, step.view(1), tok_d)

        def body(step: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            tok_s, tok_d, h = self.step(h, step, cache)
            keep(step, tok_s, tok_d)
            return step + 1, h

        step, h = torch.while_loop(lambda step, h: step < J - 1, body,
                                   (torch.zeros((), dtype=torch.long, device=x_s.device),
                                    self.start(hiarm.condition(x_s, c), cache)))
        keep(step, *self.tokens(h, step))
        return q_s[:, hiarm.joint_rank], q_d[:, hiarm.joint_rank]

"""Stage 2: Hierarchical AutoRegressive Modeling (HiPART supplement Alg. 2; DESIGN.md section 4).

Sequence seen by the causal transformer (GCSAB):

    [ prefix: 17 condition tokens from the observed sparse pose x_s ] [ g^0 ] [ g^1 ] ... [ g^15 ]

with g^k the LSAB summary of the k-th visited part (its sparse token and its r dense tokens, embedded, mixed by
one local self-attention layer, averaged). Parts are visited in ``hipart.skeleton`` order (center-to-periphery by
default). The prefix attends to itself both ways; part positions attend to the prefix and to earlier parts only.
The output at the last prefix position predicts part 0's tokens, the output at g^k predicts part k + 1's: a
prediction head turns it into r + 1 query slots (seeded with the predicting part's and the target part's
embeddings), mixed by one attention layer, then into one sparse-token and r dense-token distributions. Greedy
decoding takes 17 steps; with the key/value cache each step runs the transformer on one new position only.

Two cached decodings give the same tokens: ``generate`` (eager; the cache grows by concatenation, so each step has
other shapes) and ``decode_static`` (a zero-filled cache of all 2 * 17 - 1 positions written in place, every step
attending over all of it under a mask, so every step has the same shapes: ``decode_start`` once, ``decode_step``
16 times with the step index as a tensor, ``decode_tokens`` once). ``decode_looped`` runs the same 16 steps inside one
``torch.while_loop``, so that ``torch.compile`` makes the whole decoding one program. ``hipart.models.fast.FastDecoder``
runs the static one under inference mode, compiled (looped on the CPU), in reduced precision or as a CUDA graph.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hipart.config import HiARMConfig
from hipart.models.mixer import MixerBlock
from hipart.models.transformer import Block
from hipart.checkpoints import load_model
from hipart.skeleton import H36M

KIND = "hiarm"  # checkpoint kind
ARCHITECTURE = ("num_blocks", "dim", "heads", "dropout", "part_order", "cond_token_hidden")


class HiARM(nn.Module):
    def __init__(self, cfg: HiARMConfig, tokens_per_part: int, codebook_sparse: int, codebook_dense: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.r, self.K_s, self.K_d = tokens_per_part, codebook_sparse, codebook_dense
        J, D, r = H36M.num_joints, cfg.dim, tokens_per_part
        self.num_parts = J
        self.register_buffer("order", torch.tensor(H36M.part_order(cfg.part_order)), persistent=False)
        self.register_buffer("joint_rank", torch.argsort(self.order), persistent=False)  # visiting order -> joints
        self.register_buffer("steps", torch.arange(J), persistent=False)  # step indices as device tensors
        # condition encoder: the observed sparse pose -> 17 prefix tokens
        self.cond_embed = nn.Linear(2, D)
        self.cond_mixer = MixerBlock(J, D, cfg.cond_token_hidden, 2 * D, cfg.dropout)
        # token embeddings and LSAB
        self.embed_s = nn.Embedding(codebook_sparse, D)
        self.embed_d = nn.Embedding(codebook_dense, D)
        self.slot = nn.Parameter(torch.zeros(1 + r, D))
        self.part = nn.Embedding(J, D)
        self.lsab = Block(D, cfg.heads, cfg.dropout)
        # GCSAB
        self.pos = nn.Parameter(torch.zeros(J + J - 1, D))
        self.blocks = nn.ModuleList([Block(D, cfg.heads, cfg.dropout) for _ in range(cfg.num_blocks)])
        self.norm = nn.LayerNorm(D)
        # prediction head
        self.query = nn.Parameter(torch.zeros(1 + r, D))
        self.target_part = nn.Embedding(J, D)
        self.head_block = Block(D, cfg.heads, cfg.dropout)
        self.head_norm = nn.LayerNorm(D)
        self.head_s = nn.Linear(D, codebook_sparse)
        self.head_d = nn.Linear(D, codebook_dense)
        for p in (self.slot, self.pos, self.query):
            nn.init.normal_(p, std=0.02)

    # ------------------------------------------------------------------ pieces
    def prefix(self, x_s: torch.Tensor) -> torch.Tensor:
        """Normalized sparse pose (B, 17, 2) -> prefix tokens (B, 17, D)."""
        return self.cond_mixer(self.cond_embed(x_s))

    def part_summary(self, q_s: torch.Tensor, q_d: torch.Tensor, parts: torch.Tensor, fixed: bool = False
                     ) -> torch.Tensor:
        """LSAB: tokens of parts (B, P) [q_s (B, P), q_d (B, P, r)] -> g (B, P, D). ``fixed``: by the
        fixed-shape inference block (``Block.step``), as the static decoding does."""
        B, P = q_s.shape
        tokens = torch.cat([self.embed_s(q_s)[:, :, None], self.embed_d(q_d)], dim=2)  # (B, P, 1 + r, D)
        tokens = tokens + self.slot + self.part(parts)[None, :, None]
        tokens = tokens.reshape(B * P, 1 + self.r, -1)
        mixed = self.lsab.step(tokens) if fixed else self.lsab(tokens)[0]
        return mixed.mean(dim=1).reshape(B, P, -1)

    def mask(self, length: int, start: int = 0, device: torch.device | None = None) -> torch.Tensor:
        """Boolean attention mask (True = may attend) for positions start..length-1 over 0..length-1."""
        J = self.num_parts
        pos = torch.arange(start, length, device=device)[:, None]
        key = torch.arange(length, device=device)[None, :]
        return (key <= pos) | ((key < J) & (pos < J))  # causal, but the prefix sees all of itself

    def predict(self, h: torch.Tensor, step: torch.Tensor, fixed: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """PH: hidden states (B, S, D) at steps ``step`` (S,) -> logits (B, S, K_s), (B, S, r, K_d).

        Step k predicts part order[k]; the query slots are seeded with that part's embedding. ``fixed``: by the
        fixed-shape inference block, as the static decoding does, and the output heads in fp32 under autocast.
        """
        B, S, D = h.shape
        target = self.order[step]
        q = h[:, :, None] + self.query + self.target_part(target)[None, :, None]  # (B, S, 1 + r, D)
        q = q.reshape(B * S, 1 + self.r, D)
        q = self.head_block.step(q) if fixed else self.head_block(q)[0]
        q = self.head_norm(q).reshape(B, S, 1 + self.r, D)
        if fixed:  # greedy decoding takes the argmax of these: under autocast, bf16 logits round near-ties apart
            with torch.autocast(q.device.type, enabled=False):
                q = q.float()
                return self.head_s(q[:, :, 0]), self.head_d(q[:, :, 1:])
        return self.head_s(q[:, :, 0]), self.head_d(q[:, :, 1:])

    def run_blocks(self, x: torch.Tensor, mask: torch.Tensor, caches: list | None = None
                   ) -> tuple[torch.Tensor, list]:
        new = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, mask, None if caches is None else caches[i])
            new.append(kv)
        return self.norm(x), new

    # ------------------------------------------------------------------ training: teacher forcing
    def forward(self, x_s: torch.Tensor, q_s: torch.Tensor, q_d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher forcing. q_s (B, 17), q_d (B, 17, r) in joint order -> logits for every part in visiting order:
        (B, 17, K_s) and (B, 17, r, K_d)."""
        J = self.num_parts
        order = self.order
        g = self.part_summary(q_s[:, order[:-1]], q_d[:, order[:-1]], order[:-1])  # parts 0..15 as inputs
        x = torch.cat([self.prefix(x_s), g], dim=1) + self.pos
        h, _ = self.run_blocks(x, self.mask(x.shape[1], device=x.device))
        steps = torch.arange(J, device=x.device)
        return self.predict(h[:, J - 1:], steps)

    # ------------------------------------------------------------------ inference: greedy, 17 steps
    @torch.no_grad()
    def generate(self, x_s: torch.Tensor, use_cache: bool = True, temperature: float = 0.0,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Decoding -> token indices in joint order: q_s (B, 17), q_d (B, 17, r). Greedy (argmax) at ``temperature``
        0, otherwise every token sampled from softmax(logits / temperature) with ``generator``."""

        def choose(logits: torch.Tensor) -> torch.Tensor:
            if temperature <= 0:
                return logits.argmax(-1)
            probs = torch.softmax(logits.float() / temperature, dim=-1)
            flat = torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, generator=generator)
            return flat.reshape(probs.shape[:-1])

        B, J, dev = x_s.shape[0], self.num_parts, x_s.device
        q_s = torch.zeros(B, J, dtype=torch.long, device=dev)
        q_d = torch.zeros(B, J, self.r, dtype=torch.long, device=dev)
        seq = self.prefix(x_s) + self.pos[:J]
        if use_cache:
            h, caches = self.run_blocks(seq, self.mask(J, device=dev))
            last = h[:, -1:]
        for k in range(J):
            if not use_cache:
                h, _ = self.run_blocks(seq, self.mask(seq.shape[1], device=dev))
                last = h[:, -1:]
            logits_s, logits_d = self.predict(last, torch.tensor([k], device=dev))
            part = int(self.order[k])
            q_s[:, part] = choose(logits_s[:, 0])
            q_d[:, part] = choose(logits_d[:, 0])
            if k == J - 1:
                break
            g = self.part_summary(q_s[:, part:part + 1], q_d[:, part:part + 1], self.order[k:k + 1])
            g = g + self.pos[J + k:J + k + 1]
            if use_cache:
                length = J + k + 1
                h, caches = self.run_blocks(g, self.mask(length, start=length - 1, device=dev), caches)
                last = h
            else:
                seq = torch.cat([seq, g], dim=1)
        return q_s, q_d

    # ------------------------------------------------------------------ inference: static cache, fixed shapes
    @property
    def max_length(self) -> int:
        """Positions the causal transformer ever holds: the 17 prefix tokens and parts 0..15."""
        return 2 * self.num_parts - 1

    def new_cache(self, batch: int, device: torch.device, dtype: torch.dtype = torch.float32
                  ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Zero-filled keys and values (B, heads, max_length, dim / heads) for each GCSAB block."""
        H = self.cfg.heads
        shape = (batch, H, self.max_length, self.cfg.dim // H)
        return [(torch.zeros(shape, device=device, dtype=dtype), torch.zeros(shape, device=device, dtype=dtype))
                for _ in self.blocks]

    def run_blocks_static(self, x: torch.Tensor, cache: list[tuple[torch.Tensor, torch.Tensor]],
                          positions: torch.Tensor, visible: torch.Tensor | None) -> torch.Tensor:
        for block, (keys, values) in zip(self.blocks, cache):
            x = block.step(x, keys, values, positions, visible)
        return self.norm(x)

    def decode_start(self, x_s: torch.Tensor, cache: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """The prefix of normalized sparse poses (B, 17, 2) into cache positions 0..16 -> the hidden state at the
        last prefix position (B, 1, D), which predicts part 0."""
        J = self.num_parts
        # the prefix sees all of itself and nothing after it: attend over views of the cache's first 17 positions
        # (writes land in the cache), unmasked, rather than over all 33 under a mask
        prefix_cache = [(keys[:, :, :J], values[:, :, :J]) for keys, values in cache]
        h = self.run_blocks_static(self.prefix(x_s) + self.pos[:J], prefix_cache, self.steps, None)
        # the layout decode_step returns (row-major strides even for B = 1): one compiled step, one loop fit both
        return h[:, -1:].clone(memory_format=torch.contiguous_format)

    def decode_tokens(self, h: torch.Tensor, step: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Greedy tokens of part order[step] from the hidden state h (B, 1, D); step a 0-dim tensor ->
        sparse (B,) and dense (B, r) token indices."""
        logits_s, logits_d = self.predict(h, step.view(1), fixed=True)
        return logits_s[:, 0].argmax(-1), logits_d[:, 0].argmax(-1)

    def decode_step(self, h: torch.Tensor, step: torch.Tensor, cache: list[tuple[torch.Tensor, torch.Tensor]]
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Step k (0-dim tensor, 0..15): part order[k]'s greedy tokens from h (B, 1, D), their LSAB summary written
        at cache position 17 + k -> tokens (B,), (B, r) and the hidden state there (B, 1, D), which predicts
        part k + 1. Same shapes for every k."""
        tok_s, tok_d = self.decode_tokens(h, step)
        step = step.view(1)
        g = self.part_summary(tok_s[:, None], tok_d[:, None], self.order[step], fixed=True)
        position = self.num_parts + step
        visible = torch.arange(self.max_length, device=h.device)[None, :] <= position  # (1, L): causal
        return tok_s, tok_d, self.run_blocks_static(g + self.pos[position], cache, position, visible)

    def decode_static(self, x_s: torch.Tensor, start: Any = None, step: Any = None, tokens: Any = None,
                      cache_dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
        """Greedy decoding with the static cache -> token indices in joint order: q_s (B, 17), q_d (B, 17, r).
        ``start``, ``step``, ``tokens`` replace ``decode_start``, ``decode_step``, ``decode_tokens`` (e.g. by
        compiled versions). No host synchronisation: capturable as a CUDA graph."""
        J = self.num_parts
        start, step, tokens = start or self.decode_start, step or self.decode_step, tokens or self.decode_tokens
        cache = self.new_cache(x_s.shape[0], x_s.device, cache_dtype)
        h = start(x_s, cache)
        out_s, out_d = [], []
        for k in range(J - 1):
            tok_s, tok_d, h = step(h, self.steps[k], cache)
            out_s.append(tok_s)
            out_d.append(tok_d)
        tok_s, tok_d = tokens(h, self.steps[J - 1])
        q_s = torch.stack([*out_s, tok_s], dim=1)  # (B, 17) in visiting order
        q_d = torch.stack([*out_d, tok_d], dim=1)
        return q_s[:, self.joint_rank], q_d[:, self.joint_rank]

    def decode_looped(self, x_s: torch.Tensor, cache_dtype: torch.dtype = torch.float32
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """``decode_static`` with its 16 steps in one ``torch.while_loop`` (call under inference mode): under
        ``torch.compile`` the whole decoding is one program whose loop body is compiled once, with no Python, guard
        checks or returns to the caller between steps. The body writes the cache and the token buffers in place,
        which a while_loop allows in inference. Same tokens as ``decode_static``."""
        B, J = x_s.shape[0], self.num_parts
        cache = self.new_cache(B, x_s.device, cache_dtype)
        q_s = torch.zeros(B, J, dtype=torch.long, device=x_s.device)  # visiting order
        q_d = torch.zeros(B, J, self.r, dtype=torch.long, device=x_s.device)

        def keep(step: torch.Tensor, tok_s: torch.Tensor, tok_d: torch.Tensor) -> None:
            q_s.index_copy_(1, step.view(1), tok_s[:, None])
            q_d.index_copy_(1, step.view(1), tok_d[:, None])

        def body(step: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            tok_s, tok_d, h = self.decode_step(h, step, cache)
            keep(step, tok_s, tok_d)
            return step + 1, h

        step, h = torch.while_loop(lambda step, h: step < J - 1, body,
                                   (torch.zeros((), dtype=torch.long, device=x_s.device),
                                    self.decode_start(x_s, cache)))
        keep(step, *self.decode_tokens(h, step))
        return q_s[:, self.joint_rank], q_d[:, self.joint_rank]

    def model_args(self) -> dict[str, Any]:
        return {"cfg": {k: v for k, v in asdict(self.cfg).items() if k in ARCHITECTURE},
                "tokens_per_part": self.r, "codebook_sparse": self.K_s, "codebook_dense": self.K_d}

    @classmethod
    def from_args(cls, args: dict[str, Any]) -> "HiARM":
        return cls(HiARMConfig(**args["cfg"]), args["tokens_per_part"], args["codebook_sparse"],
                   args["codebook_dense"])

    @classmethod
    def load(cls, path: str | Path) -> tuple["HiARM", dict[str, Any]]:
        """A trained HiARM (eval mode) and its checkpoint payload."""
        return load_model(path, KIND, cls.from_args)  # type: ignore[return-value]


def hiarm_loss(logits_s: torch.Tensor, logits_d: torch.Tensor, q_s: torch.Tensor, q_d: torch.Tensor,
               order: torch.Tensor, lambda_dense: float) -> tuple[torch.Tensor, dict[str, float]]:
    """L2 = CE(q_s) + λ_d CE(q_d); targets in joint order are permuted to the visiting order of the logits."""
    t_s, t_d = q_s[:, order], q_d[:, order]
    ce_s = F.cross_entropy(logits_s.reshape(-1, logits_s.shape[-1]), t_s.reshape(-1))
    ce_d = F.cross_entropy(logits_d.reshape(-1, logits_d.shape[-1]), t_d.reshape(-1))
    loss = ce_s + lambda_dense * ce_d
    with torch.no_grad():
        acc_s = (logits_s.argmax(-1) == t_s).float().mean().item()
        acc_d = (logits_d.argmax(-1) == t_d).float().mean().item()
    return loss, {"loss": loss.item(), "ce_s": ce_s.item(), "ce_d": ce_d.item(), "acc_s": acc_s, "acc_d": acc_d}

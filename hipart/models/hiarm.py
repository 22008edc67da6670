"""Stage 2: Hierarchical AutoRegressive Modeling (HiPART supplement Alg. 2; docs/design.md, "HiARM").

Sequence seen by the causal transformer (GCSAB):

    [ prefix: 17 condition tokens from the observed sparse pose x_s ] [ g^0 ] [ g^1 ] ... [ g^15 ]

with g^k the LSAB summary of the k-th visited part (its sparse token and its r dense tokens, embedded, mixed by
one local self-attention layer, averaged). Parts are visited in ``hipart.skeleton`` order (center-to-periphery by
default). The prefix attends to itself both ways; part positions attend to the prefix and to earlier parts only.
The output h at the last prefix position predicts part 0's tokens, the output at g^k predicts part k + 1's: the
prediction head PH turns h into r + 1 query slots (seeded with the target part's embedding), mixed by one attention
layer, then into one sparse-token and r dense-token distributions.

Detector confidence (config ``hiarm.confidence``, off by default): the condition encoder reads (x, y, c) per joint
instead of (x, y), c the detector's confidence in [0, 1] (0 for a joint outside the picture or of a frame without a
detection: ``hipart.occlusion.observed_confidence``), so that the model can learn which joints the detector did not
see. Every decoding (``generate``, cached or not, and the static one) takes c beside x_s.

Decode groups (config ``hiarm.decode_groups``, docs/design.md "HiARM"): the parts may be decoded in m groups, one
group per step, instead of one part per step. The visiting order is then the groups one after another; the parts of
group t are all predicted from the same h, the output at the last position before the group (the last prefix
position for group 0, else the last part of group t - 1), each with its own target-part embedding, so none of them
sees a group-mate's tokens. GCSAB's mask is block-causal: a position sees the positions of its own group and of every
earlier group (the prefix counts as group -1). With one part per group (the default, "single") both rules are the
ones above, and the model is the paper's.

The parts, named as in the paper: ``LSAB``, ``GCSAB``, ``PredictionHead`` (PH); ``HiARM`` holds them with the
condition encoder, trains by teacher forcing (``forward``) and decodes in one step per group (``generate``: the
reference decoding, greedy or sampled; with the key/value cache each step runs the transformer on the group's new
positions only).
``hipart.models.hiarm_fast.StaticDecoder`` decodes the same weights with fixed shapes (a static key/value cache),
which ``torch.compile`` and CUDA graphs need, to the same tokens.

State dicts written before the parts had their own modules (``embed_s.*``, ``blocks.*``, ``head_block.*``, ...)
load: ``HiARM`` renames their keys on the way in (``legacy_key``).
"""

from __future__ import annotations

from pathlib import Path
from itertools import accumulate
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from hipart.checkpoints import load_checkpoint, load_model
from hipart.config import HiARMConfig, architecture, decode_groups, from_architecture
from hipart.errors import HipartError
from hipart.models.mixer import MixerBlock
from hipart.models.transformer import Block
from hipart.skeleton import H36M

KIND = "hiarm"  # checkpoint kind
# Keys of the layout before LSAB, GCSAB and PredictionHead were modules -> their keys now. Entries ending in "."
# rename every key under them; the others are single parameters.
LEGACY_KEYS = {"embed_s.": "lsab.embed_s.", "embed_d.": "lsab.embed_d.", "slot": "lsab.slot",
               "part.": "lsab.part.", "lsab.": "lsab.block.", "pos": "gcsab.pos", "blocks.": "gcsab.blocks.",
               "norm.": "gcsab.norm.", "query": "head.query", "target_part.": "head.target_part.",
               "head_block.": "head.block.", "head_norm.": "head.norm.", "head_s.": "head.to_sparse.",
               "head_d.": "head.to_dense."}


def legacy_key(key: str) -> str:
    """A HiARM state-dict key of the earlier layout (relative to the model) -> the key it has now."""
    for old, new in LEGACY_KEYS.items():
        if key == old or (old.endswith(".") and key.startswith(old)):
            return new + key[len(old):]
    return key


def _rename_legacy_keys(module: nn.Module, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
    """Load-state-dict pre-hook of ``HiARM``: a state dict of the earlier layout (it has ``embed_s.weight``)
    gets the current keys."""
    if prefix + "embed_s.weight" not in state_dict:
        return
    for key in [k for k in state_dict if k.startswith(prefix)]:
        state_dict[prefix + legacy_key(key[len(prefix):])] = state_dict.pop(key)


class LSAB(nn.Module):
    """LSAB, the block local to one part (Alg. 2, lines 3-5): part i's sparse token q_s^i and its r dense tokens
    q_d^(i,1..r), embedded (ẑ_s^i, ẑ_d^(i,j): learned tables of the codebook indices, plus a slot and a part
    embedding), mixed by one self-attention block into g_0^i .. g_r^i and averaged: g^i = avg(g_j^i), the
    part's one position in GCSAB's sequence."""

    def __init__(self, dim: int, heads: int, dropout: float, tokens_per_part: int, codebook_sparse: int,
                 codebook_dense: int, num_parts: int) -> None:
        super().__init__()
        self.r = tokens_per_part
        self.embed_s = nn.Embedding(codebook_sparse, dim)
        self.embed_d = nn.Embedding(codebook_dense, dim)
        self.slot = nn.Parameter(torch.zeros(1 + tokens_per_part, dim))  # which of the 1 + r tokens
        self.part = nn.Embedding(num_parts, dim)
        self.block = Block(dim, heads, dropout)

    def _tokens(self, q_s: torch.Tensor, q_d: torch.Tensor, parts: torch.Tensor) -> torch.Tensor:
        B, P = q_s.shape
        tokens = torch.cat([self.embed_s(q_s)[:, :, None], self.embed_d(q_d)], dim=2)  # (B, P, 1 + r, D)
        tokens = tokens + self.slot + self.part(parts)[None, :, None]
        return tokens.reshape(B * P, 1 + self.r, -1)

    def forward(self, q_s: torch.Tensor, q_d: torch.Tensor, parts: torch.Tensor) -> torch.Tensor:
        """Tokens of P parts, q_s (B, P) and q_d (B, P, r), of the parts ``parts`` (P,) -> g (B, P, D)."""
        B, P = q_s.shape
        return self.block(self._tokens(q_s, q_d, parts))[0].mean(dim=1).reshape(B, P, -1)

    def step(self, q_s: torch.Tensor, q_d: torch.Tensor, parts: torch.Tensor) -> torch.Tensor:
        """``forward`` by the fixed-shape inference block (``Block.step``), as the static decoding runs it."""
        B, P = q_s.shape
        return self.block.step(self._tokens(q_s, q_d, parts)).mean(dim=1).reshape(B, P, -1)


class GCSAB(nn.Module):
    """GCSAB, the causal blocks global over the parts (Alg. 2, line 6): L2 pre-LN transformer blocks over the sequence
    [17 prefix tokens, g^0 .. g^15] plus learned position embeddings -> h at every position. The prefix attends to
    itself both ways, a part position to the prefix and to earlier parts (``mask``).

    ``part_groups``: the decode group of each part in visiting order (default: one part per group, 0..num_parts-1);
    a part position then attends to the prefix and to the positions of its own and every earlier group."""

    def __init__(self, dim: int, heads: int, dropout: float, num_blocks: int, num_prefix: int, num_parts: int,
                 part_groups: Sequence[int] | None = None) -> None:
        super().__init__()
        self.num_prefix = num_prefix
        self.pos = nn.Parameter(torch.zeros(num_prefix + num_parts - 1, dim))  # the last part is never an input
        self.blocks = nn.ModuleList([Block(dim, heads, dropout) for _ in range(num_blocks)])
        self.norm = nn.LayerNorm(dim)
        groups = list(range(num_parts)) if part_groups is None else list(part_groups)
        # the decode group of every position: -1 for the prefix (``mask``)
        self.register_buffer("group_of", torch.tensor([-1] * num_prefix + groups[:num_parts - 1]), persistent=False)

    @property
    def max_length(self) -> int:
        """Positions the sequence ever holds: the prefix and every part but the last."""
        return self.pos.shape[0]

    def visible(self, positions: torch.Tensor) -> torch.Tensor:
        """Boolean attention mask (True = may attend) of the queries at ``positions`` (T,) over every position
        (T, max_length): the keys of the query's own decode group and of the groups before it. The prefix (group -1)
        sees itself both ways; with one part per group a part sees the prefix and the parts up to itself (causal)."""
        return self.group_of[None, :] <= self.group_of[positions][:, None]

    def mask(self, length: int, start: int = 0, device: torch.device | None = None) -> torch.Tensor:
        """Boolean attention mask (True = may attend) for positions start..length-1 over 0..length-1 (``visible``)."""
        group = self.group_of[:length] if device is None else self.group_of[:length].to(device)
        return group[None, :] <= group[start:length, None]

    def forward(self, x: torch.Tensor, start: int = 0, caches: list | None = None) -> tuple[torch.Tensor, list]:
        """Inputs x (B, T, D) at positions start..start+T-1 (the positions before them in ``caches``, the keys and
        values of each block, or none when start is 0) -> h (B, T, D) and the caches grown by these positions."""
        length = start + x.shape[1]
        x = x + self.pos[start:length]
        mask = self.mask(length, start, x.device)
        grown = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, mask, None if caches is None else caches[i])
            grown.append(kv)
        return self.norm(x), grown

    def step(self, x: torch.Tensor, cache: list[tuple[torch.Tensor, torch.Tensor]], positions: torch.Tensor,
             visible: torch.Tensor | None) -> torch.Tensor:
        """``forward`` with fixed shapes: inputs x (B, T, D) at ``positions`` (T,), their keys and values written
        into each block's preallocated (keys, values) in ``cache``, attending where ``visible`` (T, L) (see
        ``Attention.step``) -> h (B, T, D)."""
        x = x + self.pos[positions]
        for block, (keys, values) in zip(self.blocks, cache):
            x = block.step(x, keys, values, positions, visible)
        return self.norm(x)


class PredictionHead(nn.Module):
    """The prediction head PH (Alg. 2, line 7): h (GCSAB's output at the step before part k) -> r + 1 query slots
    (h plus a learned query per slot plus the embedding of the target part k), mixed by one self-attention block,
    then logits p_0^k over the sparse codebook and p_1^k .. p_r^k over the dense codebook."""

    def __init__(self, dim: int, heads: int, dropout: float, tokens_per_part: int, codebook_sparse: int,
                 codebook_dense: int, num_parts: int) -> None:
        super().__init__()
        self.r = tokens_per_part
        self.query = nn.Parameter(torch.zeros(1 + tokens_per_part, dim))
        self.target_part = nn.Embedding(num_parts, dim)
        self.block = Block(dim, heads, dropout)
        self.norm = nn.LayerNorm(dim)
        self.to_sparse = nn.Linear(dim, codebook_sparse)
        self.to_dense = nn.Linear(dim, codebook_dense)

    def _queries(self, h: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        B, S, D = h.shape
        q = h[:, :, None] + self.query + self.target_part(target)[None, :, None]  # (B, S, 1 + r, D)
        return q.reshape(B * S, 1 + self.r, D)

    def forward(self, h: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Hidden states h (B, S, D) predicting the parts ``target`` (S,) -> logits (B, S, K_s), (B, S, r, K_d)."""
        B, S, D = h.shape
        q = self.norm(self.block(self._queries(h, target))[0]).reshape(B, S, 1 + self.r, D)
        return self.to_sparse(q[:, :, 0]), self.to_dense(q[:, :, 1:])

    def step(self, h: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``forward`` by the fixed-shape inference block, the output layers in fp32 under autocast: greedy
        decoding takes the argmax of these, and bf16 logits would round near-ties apart."""
        B, S, D = h.shape
        q = self.norm(self.block.step(self._queries(h, target))).reshape(B, S, 1 + self.r, D)
        with torch.autocast(q.device.type, enabled=False):
            q = q.float()
            return self.to_sparse(q[:, :, 0]), self.to_dense(q[:, :, 1:])


class HiARM(nn.Module):
    """Stage 2 (Alg. 2): the condition encoder (the observed sparse pose x_s -> 17 prefix tokens; with
    ``cfg.confidence`` each joint's token also reads the detector's confidence c, so that the model can learn which
    joints the detector did not see), ``LSAB``, ``GCSAB`` and the ``PredictionHead``; r tokens per part, codebooks
    of K_s sparse and K_d dense codes."""

    def __init__(self, cfg: HiARMConfig, tokens_per_part: int, codebook_sparse: int, codebook_dense: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.r, self.K_s, self.K_d = tokens_per_part, codebook_sparse, codebook_dense
        J, D = H36M.num_joints, cfg.dim
        self.num_parts = J
        # decode groups (joint indices), one group per decoding step; the visiting order is the groups in turn
        self.groups = decode_groups(cfg.decode_groups, cfg.part_order)
        self.group_sizes = tuple(len(g) for g in self.groups)
        self.group_starts = (0, *accumulate(self.group_sizes[:-1]))  # visiting index of each group's first part
        self.single = all(n == 1 for n in self.group_sizes)  # one part per step: the paper's decoding
        part_groups = [t for t, n in enumerate(self.group_sizes) for _ in range(n)]  # visiting index -> group
        self.register_buffer("order", torch.tensor([j for g in self.groups for j in g]), persistent=False)
        self.register_buffer("joint_rank", torch.argsort(self.order), persistent=False)  # visiting order -> joints
        self.register_buffer("steps", torch.arange(J), persistent=False)  # step indices as device tensors
        # the position whose output h predicts each part (visiting order): the last before the part's group
        self.register_buffer("reader", torch.tensor([J - 1 + self.group_starts[t] for t in part_groups]),
                             persistent=False)
        # condition encoder: the observed sparse pose, (x, y) or with ``confidence`` (x, y, c) per joint -> 17
        # prefix tokens
        self.cond_embed = nn.Linear(3 if cfg.confidence else 2, D)
        self.cond_mixer = MixerBlock(J, D, cfg.cond_token_hidden, 2 * D, cfg.dropout)
        self.lsab = LSAB(D, cfg.heads, cfg.dropout, tokens_per_part, codebook_sparse, codebook_dense, J)
        self.gcsab = GCSAB(D, cfg.heads, cfg.dropout, cfg.num_blocks, J, J, part_groups)
        self.head = PredictionHead(D, cfg.heads, cfg.dropout, tokens_per_part, codebook_sparse, codebook_dense, J)
        # drawn last and in this order, as before the parts were modules: a seed gives the same initial weights
        for p in (self.lsab.slot, self.gcsab.pos, self.head.query):
            nn.init.normal_(p, std=0.02)
        self.register_load_state_dict_pre_hook(_rename_legacy_keys)

    @property
    def num_steps(self) -> int:
        """Decoding steps (prediction-head calls): one per decode group."""
        return len(self.groups)

    def read_confidence(self, x_s: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor | None:
        """The confidence c (B, 17) this model reads for x_s (B, 17, 2): None for a model without
        ``cfg.confidence`` (it ignores c); c itself for one with it, which needs c of x_s's (B, 17) (a one-line
        error otherwise)."""
        if not self.cfg.confidence:
            return None
        if c is None:
            raise HipartError("this HiARM reads the detector's per-joint confidence (hiarm.confidence): pass c "
                              "(B, 17), ones for true keypoints")
        if c.shape != x_s.shape[:2]:
            raise HipartError(f"confidence has shape {tuple(c.shape)}; HiARM needs one per joint of x_s, "
                              f"{tuple(x_s.shape[:2])}")
        return c

    def condition(self, x_s: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """What the condition encoder reads: the normalized sparse pose x_s (B, 17, 2) itself, or with
        ``cfg.confidence`` (x, y, c) per joint (B, 17, 3), c (B, 17) the detector's per-joint confidence in [0, 1]
        (``read_confidence``)."""
        c = self.read_confidence(x_s, c)
        return x_s if c is None else torch.cat([x_s, c.to(x_s.dtype)[..., None]], dim=-1)

    def prefix(self, cond: torch.Tensor) -> torch.Tensor:
        """The condition encoder's input (``condition``: (B, 17, 2), or (B, 17, 3) with confidence) -> prefix
        tokens (B, 17, D)."""
        return self.cond_mixer(self.cond_embed(cond))

    # ------------------------------------------------------------------ training: teacher forcing
    def forward(self, x_s: torch.Tensor, q_s: torch.Tensor, q_d: torch.Tensor, c: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher forcing. x_s (B, 17, 2) normalized, q_s (B, 17), q_d (B, 17, r) in joint order, c (B, 17) the
        per-joint confidence (read with ``cfg.confidence``, else ignored) -> logits for every part in visiting
        order: (B, 17, K_s) and (B, 17, r, K_d). Each part is predicted from h at ``reader`` (the last position
        before its decode group), under GCSAB's block-causal mask: as decoding predicts it."""
        inputs = self.order[:self.num_parts - self.group_sizes[-1]]  # every part but the last group's
        seq = self.prefix(self.condition(x_s, c))
        if len(inputs):
            seq = torch.cat([seq, self.lsab(q_s[:, inputs], q_d[:, inputs], inputs)], dim=1)
        h, _ = self.gcsab(seq)
        return self.head(h[:, self.reader], self.order)

    # ------------------------------------------------------------------ inference: one step per decode group
    @torch.no_grad()
    def generate(self, x_s: torch.Tensor, use_cache: bool = True, temperature: float = 0.0,
                 generator: torch.Generator | None = None, c: torch.Tensor | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """The reference decoding of x_s (B, 17, 2) normalized, with c (B, 17) the per-joint confidence (read with
        ``cfg.confidence``, else ignored) -> token indices in joint order: q_s (B, 17), q_d (B, 17, r). Greedy
        (argmax) at ``temperature`` 0, otherwise every token sampled from softmax(logits / temperature) with
        ``generator``. ``use_cache``: keep GCSAB's keys and values (each step runs one new position) or rerun the
        whole sequence every step; both give the same tokens. Step t predicts every part of decode group t from the
        same h."""

        def choose(logits: torch.Tensor) -> torch.Tensor:
            if temperature <= 0:
                return logits.argmax(-1)
            probs = torch.softmax(logits.float() / temperature, dim=-1)
            flat = torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, generator=generator)
            return flat.reshape(probs.shape[:-1])

        B, J, dev = x_s.shape[0], self.num_parts, x_s.device
        q_s = torch.zeros(B, J, dtype=torch.long, device=dev)
        q_d = torch.zeros(B, J, self.r, dtype=torch.long, device=dev)
        seq = self.prefix(self.condition(x_s, c))
        h, caches = self.gcsab(seq)
        last = h[:, -1:]
        for t, (start, n) in enumerate(zip(self.group_starts, self.group_sizes)):
            parts = self.order[start:start + n]  # the joints of group t
            logits_s, logits_d = self.head(last.expand(-1, n, -1), parts)
            q_s[:, parts] = choose(logits_s)
            q_d[:, parts] = choose(logits_d)
            if t == self.num_steps - 1:
                break
            g = self.lsab(q_s[:, parts], q_d[:, parts], parts)
            if use_cache:
                h, caches = self.gcsab(g, J + start, caches)
                last = h[:, -1:]
            else:
                seq = torch.cat([seq, g], dim=1)
                last = self.gcsab(seq)[0][:, -1:]
        return q_s, q_d

    def model_args(self) -> dict[str, Any]:
        return {"cfg": architecture(self.cfg),
                "tokens_per_part": self.r, "codebook_sparse": self.K_s, "codebook_dense": self.K_d}

    @classmethod
    def from_args(cls, args: dict[str, Any]) -> "HiARM":
        return cls(from_architecture(HiARMConfig, args["cfg"], KIND), args["tokens_per_part"], args["codebook_sparse"],
                   args["codebook_dense"])

    @classmethod
    def load(cls, path: str | Path) -> tuple["HiARM", dict[str, Any]]:
        """A trained HiARM (eval mode) and its checkpoint payload."""
        return load_model(path, KIND, cls.from_args)  # type: ignore[return-value]


def checkpoint_config(path: str | Path) -> HiARMConfig:
    """The architecture settings of a HiARM checkpoint (training settings at their defaults), without building the
    model: e.g. whether it reads the confidence, for a cache key made before the model is loaded."""
    return from_architecture(HiARMConfig, load_checkpoint(path, KIND)["model_args"]["cfg"], KIND)


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

"""The one configuration system: typed dataclasses, filled from YAML presets or a user's YAML file.

Presets live in ``hipart/configs/``: ``tiny`` (seconds, for tests), ``demo`` (minutes on 2 CPU cores; every
command's default), ``bench`` (the benchmark tables: about 1-2 hours on 2 CPU cores) and ``paper`` (the settings of
the HiPART supplement, Sec. C and Table 3; also the dataclass defaults below). A YAML file holds any subset of the
sections below; unknown keys and wrongly typed values are errors that name the key. A file may start from a
preset with ``base: demo``.

Each stage's section (``msst``, ``hiarm``, ``lifter``) holds two kinds of settings, told apart where the field is
declared: the model's architecture (``setting(..., arch=True)``: what a checkpoint stores in its ``model_args`` and
rebuilds the model from, :func:`architecture` / :func:`from_architecture`) and its training (every other field: free
to differ when a checkpoint is resumed or loaded). The YAML keys stay flat (``lifter: {dim: 32, epochs: 9}``).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import yaml

from hipart.errors import HipartError
from hipart.io import write_text_atomic
from hipart.skeleton import DECODE_GROUP_PRESETS, H36M

PRESETS = ("tiny", "demo", "bench", "paper", "pretrained")
ARCH = "arch"  # field metadata key: True for a stage's architecture settings (see setting)
OMIT_DEFAULT = "omit_default"  # field metadata key: an architecture setting stored only off its default


@dataclass(frozen=True)
class Bounds:
    """The range a numeric setting must lie in (None: unbounded on that side); NaN and infinities never do."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False  # low itself excluded
    high_open: bool = False

    def holds(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return not (self.high is not None and (value > self.high or (self.high_open and value == self.high)))

    def describe(self) -> str:
        lo = None if self.low is None else f"{'>' if self.low_open else '>='} {self.low:g}"
        hi = None if self.high is None else f"{'<' if self.high_open else '<='} {self.high:g}"
        return " and ".join(x for x in (lo, hi) if x) or "finite"


def setting(default: Any, low: float | None = None, high: float | None = None, *, low_open: bool = False,
            high_open: bool = False, choices: tuple[str, ...] | None = None, arch: bool = False,
            omit_default: bool = False, check: Callable[[Any, str], Any] | None = None) -> Any:
    """A config field with its allowed range (numbers) or choices (strings), checked by :func:`check_settings`.
    ``arch``: the field shapes a stage's model (stored in its checkpoints, :func:`architecture`); otherwise it is a
    training setting. ``omit_default``: an architecture setting added after checkpoints existed, stored only when it
    is off its default (which must be what the earlier models were), so that the models at the default keep the
    ``model_args`` of earlier versions: their checkpoints resume and load in earlier versions. ``check(value, key)``:
    a further check of the value (raises a one-line ``HipartError`` naming ``key``)."""
    meta: dict[str, Any] = {ARCH: arch}
    if omit_default:
        meta[OMIT_DEFAULT] = default
    if check is not None:
        meta["check"] = check
    if choices is not None:
        meta["choices"] = choices
    if low is not None or high is not None:
        meta["bounds"] = Bounds(low, high, low_open, high_open)
    factory = {"default_factory": lambda: default} if isinstance(default, (list, tuple, dict)) else {"default": default}
    return field(metadata=meta, **factory)


def architecture_fields(cls: type) -> tuple[str, ...]:
    """The architecture fields of a stage's settings class, in declaration order. Every field must be declared with
    :func:`setting` (architecture or training); one that is not is an error naming it."""
    fields = dataclasses.fields(cls)
    unmarked = [f.name for f in fields if ARCH not in f.metadata]
    if unmarked:
        raise TypeError(f"{cls.__name__}.{unmarked[0]} is neither architecture nor training: declare it with "
                        "setting(..., arch=True) or setting(...)")
    return tuple(f.name for f in fields if f.metadata[ARCH])


def training_fields(cls: type) -> tuple[str, ...]:
    """The training fields of a stage's settings class (every field not in :func:`architecture_fields`)."""
    arch = architecture_fields(cls)
    return tuple(f.name for f in dataclasses.fields(cls) if f.name not in arch)


def _recorded(section: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """The settings ``names`` of ``section`` as a checkpoint records them: name -> value, a setting declared
    ``omit_default`` left out at its default (see :func:`setting`)."""
    meta = {f.name: f.metadata for f in dataclasses.fields(section)}
    out = {name: _plain(getattr(section, name)) for name in names}
    return {name: value for name, value in out.items()
            if OMIT_DEFAULT not in meta[name] or value != _plain(meta[name][OMIT_DEFAULT])}


def architecture(section: Any) -> dict[str, Any]:
    """A stage's architecture settings (``model_args()["cfg"]`` of its model): name -> value; a setting declared
    ``omit_default`` is left out at its default (see :func:`setting`)."""
    return _recorded(section, architecture_fields(type(section)))


def recorded_settings(section: Any) -> dict[str, Any]:
    """Every setting of a settings dataclass (a baseline's, whose checkpoints store all of them): name -> value, a
    setting declared ``omit_default`` left out at its default, so that checkpoints made before it existed still
    match the settings asked for (:func:`added_defaults` restores it on their side)."""
    return _recorded(section, tuple(f.name for f in dataclasses.fields(section)))


def added_defaults(cls: type) -> dict[str, Any]:
    """The settings of a stage's class declared ``omit_default`` and their defaults: what a checkpoint that lacks
    them was made with."""
    return {f.name: _plain(f.metadata[OMIT_DEFAULT]) for f in dataclasses.fields(cls) if OMIT_DEFAULT in f.metadata}


def from_architecture(cls: type, values: dict[str, Any], section: str) -> Any:
    """Stage settings rebuilt from the architecture part a checkpoint stored (:func:`architecture`); the training
    fields take their defaults. A stored key that is not an architecture field of ``cls`` (the checkpoint describes a
    model this code cannot build) or a value of the wrong type or range is a one-line error naming it. An
    architecture field the checkpoint lacks takes its default: a field added later must default to what the earlier
    models were, or the model maps such checkpoints itself (the lifter's ``LEGACY_DESIGN``)."""
    known = architecture_fields(cls)
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise HipartError(f"the checkpoint's model settings hold '{section}.{unknown[0]}', which is not an "
                          f"architecture setting of this version ({', '.join(known)}); retrain the stage with --force")
    try:
        return settings_from(cls, values, f"{section}.")
    except HipartError as exc:
        raise HipartError(f"the checkpoint's model settings: {exc}; retrain the stage with --force") from None


POSITIVE = {"low": 0, "low_open": True}  # > 0
FRACTION = {"low": 0, "high": 1, "high_open": True}  # [0, 1): dropout


@dataclass
class CoarsenConfig:
    levels: tuple[int, ...] = setting((96, 48))  # fine, dense joint counts, decreasing
    compat: str = setting("exact", choices=("exact", "pose2mesh"))  # exact-count HEM or the padded binary tree
    # "area" (clusters spread over the body surface), "vertices" (plain HEM, Pose2Mesh's) or "auto": area for the
    # embedded body, vertices for SMPL (hipart.coarsen.hierarchy.default_balance)
    balance: str = setting("auto", choices=("auto", "area", "vertices"))


@dataclass
class DataConfig:
    source: str = setting("default", choices=("default", "pose2mesh"))  # embedded Anny body or a Pose2Mesh folder
    path: str = ""  # the Pose2Mesh data folder when source is "pose2mesh"
    # Pose2Mesh: X_s from the H36M 3D joints ("joints") or the SMPL regressor
    sparse_from: str = setting("joints", choices=("joints", "regressor"))
    train_stride: int = setting(5, 1)  # keep every n-th frame (Pose2Mesh's SMPL fits exist every 5th frame)
    test_stride: int = setting(5, 1)
    frames_per_action: int = setting(0, 0)  # synthetic data: frames per subject/action/subaction; 0 = 1000
    shard_size: int = setting(4096, 4)  # frames per shard on disk (at least one per camera)
    distortion: bool = False  # project with lens distortion (Pose2Mesh projects without)


@dataclass
class MSSTConfig:
    num_blocks: int = setting(4, 1, arch=True)  # L1, MLP-Mixer blocks per encoder
    dim: int = setting(128, 1, arch=True)  # D1
    tokens_per_part: int = setting(3, 1, arch=True)  # r dense tokens per sparse token
    part_masked: bool = setting(True, arch=True)  # joint-axis projection reads only the part's joints
    # token-mixing MLP width (PCT's token_inter_dim); not fixed by the paper
    token_hidden: int = setting(64, 1, arch=True)
    # channel-mixing MLP width = channel_ratio * dim; not fixed by the paper
    channel_ratio: int = setting(2, 1, arch=True)
    decoder_blocks: int = setting(1, 1, arch=True)  # mixer blocks in each decoder; not fixed by the paper
    # a code chosen fewer times than this between two checks is restarted
    dead_threshold: float = setting(1.0, 0, arch=True)
    restart_every: int = setting(100, 1, arch=True)  # iterations between dead-code checks
    codebook_size_sparse: int = setting(1024, 2, arch=True)
    codebook_size_dense: int = setting(1024, 2, arch=True)
    ema_decay: float = setting(0.99, 0, 1, low_open=True, high_open=True, arch=True)
    beta: float = setting(0.25, 0)  # commitment weight
    lambda_local: float = setting(1.0, 0)
    lambda_global: float = setting(0.3, 0)
    tau: float = setting(0.07, **POSITIVE)
    batch_size: int = setting(128, 2)  # InfoNCE needs negatives: at least two frames
    epochs: int = setting(20, 1)
    lr: float = setting(1e-3, **POSITIVE)
    weight_decay: float = setting(0.15, 0)
    warmup_iters: int = setting(500, 0)
    eval_frames: int = setting(20000, 0)  # test frames (evenly spaced) scored after every epoch; 0 = all


DECODE_GROUPS_KEY = "hiarm.decode_groups"


def decode_groups(spec: Any, part_order: str = "center", where: str = DECODE_GROUPS_KEY
                  ) -> tuple[tuple[int, ...], ...]:
    """HiARM's decode groups (``hiarm.decode_groups``) -> the groups of sparse joint indices, in decoding order.

    ``spec`` is a preset name (``hipart.skeleton.DECODE_GROUP_PRESETS``: "single", the paper's one part per step
    in ``part_order``; "rings"; "limbs") or a list of groups, each a list of joint names or indices; the groups must
    partition the 17 joints. Anything else is a one-line error naming ``where``."""
    if isinstance(spec, str):
        if spec not in DECODE_GROUP_PRESETS:
            raise HipartError(f"config key '{where}' is '{spec}'; choose one of {', '.join(DECODE_GROUP_PRESETS)} "
                              "or give a list of groups of joint names")
        preset = DECODE_GROUP_PRESETS[spec]
        if preset is None:
            return tuple((j,) for j in H36M.part_order(part_order))  # type: ignore[arg-type]
        spec = preset
    if not isinstance(spec, (list, tuple)) or not spec:
        raise HipartError(f"config key '{where}' must be a preset name ({', '.join(DECODE_GROUP_PRESETS)}) or a "
                          f"non-empty list of groups of joint names, got {spec!r}")
    groups, seen = [], set()
    for i, group in enumerate(spec):
        if not isinstance(group, (list, tuple)) or not group:
            raise HipartError(f"config key '{where}': group {i} must be a non-empty list of joint names or indices, "
                              f"got {group!r}")
        joints = []
        for joint in group:
            if isinstance(joint, str) and joint in H36M.names:
                j = H36M.index(joint)
            elif isinstance(joint, int) and not isinstance(joint, bool) and 0 <= joint < H36M.num_joints:
                j = joint
            else:
                raise HipartError(f"config key '{where}': group {i} holds {joint!r}, which is neither a joint name "
                                  f"({', '.join(H36M.names)}) nor an index 0..{H36M.num_joints - 1}")
            if j in seen:
                raise HipartError(f"config key '{where}': joint {H36M.names[j]} is in more than one group")
            seen.add(j)
            joints.append(j)
        groups.append(tuple(joints))
    missing = [H36M.names[j] for j in range(H36M.num_joints) if j not in seen]
    if missing:
        raise HipartError(f"config key '{where}': the groups must hold every joint once; missing "
                          f"{', '.join(missing)}")
    return tuple(groups)


@dataclass
class HiARMConfig:
    num_blocks: int = setting(12, 1, arch=True)  # L2, GCSAB blocks
    dim: int = setting(128, 1, arch=True)  # D2
    heads: int = setting(8, 1, arch=True)
    dropout: float = setting(0.25, **FRACTION, arch=True)
    part_order: str = setting("center", choices=("center", "raster"), arch=True)  # center-to-periphery or joint index
    # token-mixing width of the condition mixer; not fixed by the paper
    cond_token_hidden: int = setting(64, 1, arch=True)
    # the sparse joints decoded side by side, one group per step (hipart.config.decode_groups): a preset name
    # ("single": the paper's 17 steps, one part each in part_order; "rings": 6; "limbs": 4) or a list of groups of
    # joint names or indices. Stored in a checkpoint only when not "single" (earlier checkpoints lack it).
    decode_groups: str | list = setting("single", arch=True, omit_default=True,
                                        check=lambda value, where: decode_groups(value, where=where))
    # the condition reads the detector's per-joint confidence c beside x_s: (x, y, c) per joint instead of (x, y)
    # (hipart.models.hiarm). Stored in a checkpoint only when on (earlier checkpoints lack it).
    confidence: bool = setting(False, arch=True, omit_default=True)
    lambda_dense: float = setting(1.5, 0)
    occlusion_augment: bool = setting(False)
    batch_size: int = setting(64, 1)
    epochs: int = setting(50, 1)
    lr: float = setting(5e-4, **POSITIVE)
    weight_decay: float = setting(0.03, 0)
    eval_frames: int = setting(20000, 0)  # test frames (evenly spaced) tokenized for evaluation; 0 = all
    eval_greedy_frames: int = setting(2000, 0)  # of those, decoded greedily after every epoch (all at the end); 0 = all


@dataclass
class LifterConfig:
    # "hier" (x_s + HiPART's 48 + 96 joints), "sparse" (x_s only), "gt-hier" (the true dense levels: toy experiment)
    input: str = setting("hier", choices=("hier", "sparse", "gt-hier"), arch=True)
    dim: int = setting(128, 1, arch=True)  # not given in the paper
    depth: int = setting(4, 1, arch=True)  # not fixed by the paper
    # The lifter's design beyond the paper's "patch embedding, spatial transformer, regression head" (choices the paper leaves open,
    # measured: hipart.models.lifter and docs/design.md): joint positions relative to the root and to each joint's
    # anchor, or screen positions ("absolute"); per-joint standardization on the training split; one patch-embedding
    # map per joint or one shared map; tokens per sparse joint and per body part, per body part, or per joint; the
    # 3D pose regressed from all output tokens or each sparse joint from its own token.
    features: str = setting("relative", choices=("relative", "absolute"), arch=True)
    standardize: bool = setting(True, arch=True)
    embedding: str = setting("joint", choices=("joint", "shared"), arch=True)
    tokens: str = setting("sparse+parts", choices=("sparse+parts", "parts", "joints"), arch=True)
    readout: str = setting("all", choices=("all", "sparse"), arch=True)
    heads: int = setting(8, 1, arch=True)  # not fixed by the paper
    dropout: float = setting(0.1, **FRACTION, arch=True)  # not fixed by the paper
    # 0 keeps the fused attention kernel (hipart.models.transformer)
    attention_dropout: float = setting(0.0, **FRACTION, arch=True)
    # each input joint reads the detector's confidence c of its sparse joint as one more feature
    # (hipart.models.lifter). Stored in a checkpoint only when on (earlier checkpoints lack it).
    confidence: bool = setting(False, arch=True, omit_default=True)
    batch_size: int = setting(256, 1)
    epochs: int = setting(25, 1)
    lr: float = setting(1e-3, **POSITIVE)
    weight_decay: float = setting(0.0, 0)  # AdamW's decoupled decay; 0: Adam, the paper's
    # std (px) of Gaussian noise added to every input joint in training: keeps the lifter from memorising the
    # training subjects' exact surface offsets (not fixed by the paper; measured: docs/results.md)
    input_noise_px: float = setting(0.5, 0)
    # occluded copies of the training frames added for the sparse and hier lifters and every lifting baseline (the
    # same frames for all): each copy is every frame once more as the keypoint occlusion model says a detector
    # reports it, confidences and lost frames included (hipart.training.inputs.with_occluded_copies); 0: clean only
    occlusion_copies: int = setting(0, 0)
    # the hier lifter's training levels: from HiARM's tokens sampled at temperature 1 (levels as spread as on unseen
    # frames) or its greedy decoding (what inference uses, but better on the frames HiARM was trained on)
    hier_levels: str = setting("sampled", choices=("sampled", "greedy"))
    # "step": the paper's, lr times lr_decay every decay_every epochs; "cosine": linear warm-up over warmup_iters
    # steps, then cosine decay to 0 at the last step (lr_decay and decay_every unused)
    schedule: str = setting("step", choices=("step", "cosine"))
    lr_decay: float = setting(0.96, 0, 1, low_open=True)  # multiplies the learning rate every decay_every epochs
    decay_every: int = setting(4, 1)  # epochs
    warmup_iters: int = setting(0, 0)  # cosine schedule only


@dataclass
class Config:
    name: str = "paper"
    seed: int = setting(0, 0)
    device: str = "auto"
    # The observed sparse 2D pose every stage but MSST trains and is evaluated on: "gt" (the dataset's x_s rows) or
    # "detected" (a detector's keypoints on the rendered images: hipart data render + hipart detect)
    keypoints: str = setting("gt", choices=("gt", "detected"))
    coarsen: CoarsenConfig = field(default_factory=CoarsenConfig)
    data: DataConfig = field(default_factory=DataConfig)
    msst: MSSTConfig = field(default_factory=MSSTConfig)
    hiarm: HiARMConfig = field(default_factory=HiARMConfig)
    lifter: LifterConfig = field(default_factory=LifterConfig)
    # Per-baseline settings over each method's own defaults (hipart.models.baselines), e.g. {mixste: {frames: 27}};
    # checked against each method by hipart.models.baselines.method_settings where a baseline is trained or read.
    baselines: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return _plain(dataclasses.asdict(self))

    def save(self, path: str | Path) -> None:
        write_text_atomic(path, yaml.safe_dump(self.to_dict(), sort_keys=False))


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Check a YAML value against a field's type; ints are accepted where floats are expected."""
    origin = typing.get_origin(annotation)
    if origin is dict:  # baselines: name -> settings mapping (checked against each method in _validate)
        if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
            raise HipartError(f"config key '{where}' must map names to mappings of settings, got {value!r}")
        return {str(k): dict(v) for k, v in value.items()}
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise HipartError(f"config key '{where}' must be a list, got {value!r}")
        (item_type, _ellipsis) = typing.get_args(annotation)
        return tuple(_coerce(v, item_type, f"{where}[]") for v in value)
    if origin in (typing.Union, types.UnionType):  # plain types only (e.g. str | list); the field's check does more
        options = typing.get_args(annotation)
        if not all(isinstance(t, type) and typing.get_origin(t) is None for t in options):
            raise TypeError(f"unsupported config annotation {annotation}")
        if not isinstance(value, options):
            raise HipartError(f"config key '{where}' must be of type {' or '.join(t.__name__ for t in options)}, "
                              f"got {value!r}")
        return value
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation is bool and not isinstance(value, bool):
        raise HipartError(f"config key '{where}' must be true or false, got {value!r}")
    if annotation is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise HipartError(f"config key '{where}' must be an integer, got {value!r}")
    if not isinstance(value, annotation):
        raise HipartError(f"config key '{where}' must be of type {annotation.__name__}, got {value!r}")
    return value


def _apply(target: Any, values: dict[str, Any], prefix: str = "") -> None:
    hints = typing.get_type_hints(type(target))
    known = {f.name for f in dataclasses.fields(target)}
    for key, value in values.items():
        where = f"{prefix}{key}"
        if key not in known:
            raise HipartError(f"unknown config key '{where}'; known keys here: {', '.join(sorted(known))}")
        current = getattr(target, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise HipartError(f"config section '{where}' must be a mapping, got {value!r}")
            _apply(current, value, f"{where}.")
        else:
            setattr(target, key, _coerce(value, hints[key], where))


def check_settings(obj: Any, prefix: str) -> None:
    """Every field of a settings dataclass within its declared range or choices (see :func:`setting`); the error
    names the key and what it must be."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        where = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            check_settings(value, f"{where}.")
        elif "choices" in f.metadata and value not in f.metadata["choices"]:
            raise HipartError(f"config key '{where}' is '{value}'; choose one of {', '.join(f.metadata['choices'])}")
        elif "bounds" in f.metadata and not f.metadata["bounds"].holds(float(value)):
            raise HipartError(f"config key '{where}' must be {f.metadata['bounds'].describe()}, got {value!r}")
        if "check" in f.metadata:
            f.metadata["check"](value, where)


def settings_from(cls: type, values: dict[str, Any], prefix: str) -> Any:
    """A settings dataclass from a mapping (e.g. a YAML section or command-line options): unknown keys, wrong types
    and values out of range are errors naming the key."""
    obj = cls()
    _apply(obj, values, prefix)
    check_settings(obj, prefix)
    return obj


def _validate(cfg: Config) -> None:
    check_settings(cfg, "")
    levels = cfg.coarsen.levels
    if not levels or any(b >= a for a, b in zip(levels, levels[1:])) or min(levels) < 1:
        raise HipartError(f"config key 'coarsen.levels' must be positive and strictly decreasing, got {list(levels)}")
    if cfg.data.frames_per_action == 1:
        raise HipartError("config key 'data.frames_per_action' must be 0 (the source's all: 1000 frames for the "
                          "default capture) or >= 2, got 1")
    if cfg.data.source == "pose2mesh" and not cfg.data.path:
        raise HipartError("config: data.source is pose2mesh but data.path (the Pose2Mesh data folder) is empty")
    if cfg.lifter.tokens != "joints" and cfg.lifter.embedding != "joint":
        raise HipartError(f"config: lifter.tokens '{cfg.lifter.tokens}' sums per-joint embeddings into part tokens "
                          "and needs lifter.embedding 'joint'")
    for name, section in (("hiarm", cfg.hiarm), ("lifter", cfg.lifter)):
        if section.dim % section.heads:
            raise HipartError(f"config: {name}.dim ({section.dim}) must be divisible by {name}.heads ({section.heads})")


def _read_yaml(text: str, source: str) -> dict[str, Any]:
    try:
        values = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise HipartError(f"{source}: not valid YAML ({str(exc).splitlines()[0]})") from exc
    if not isinstance(values, dict):
        raise HipartError(f"{source}: a config file must hold a mapping of sections, got {type(values).__name__}")
    return values


def _preset_values(name: str) -> dict[str, Any]:
    """A preset's values, merged over those of the preset it names as ``base`` (if any)."""
    text = resources.files("hipart.configs").joinpath(f"{name}.yaml").read_text()
    values = _read_yaml(text, f"preset '{name}'")
    base = values.pop("base", None)
    return _deep_merge(_preset_values(base), values) if base is not None else values


def load_config(name_or_path: str | Path = "paper", overrides: dict[str, Any] | None = None) -> Config:
    """A preset name (tiny, demo, bench, paper, pretrained) or a YAML file path -> validated Config."""
    key = str(name_or_path)
    if key in PRESETS:
        values = _preset_values(key)
    else:
        path = Path(key)
        if not path.is_file():
            raise HipartError(f"config '{key}' is neither a preset ({', '.join(PRESETS)}) nor an existing YAML file")
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError) as exc:
            raise HipartError(f"{path}: not a readable YAML text file ({type(exc).__name__}); give a preset name or a "
                              "YAML config") from None
        values = _read_yaml(text, str(path))
        name = values.get("name", path.stem)  # the file's own name, never the base preset's
        base = values.pop("base", None)
        if base is not None:
            if base not in PRESETS:
                raise HipartError(f"{path}: base '{base}' is not a preset ({', '.join(PRESETS)})")
            merged = _preset_values(base)
            values = _deep_merge(merged, values)
        values["name"] = name
    cfg = Config()
    _apply(cfg, values)
    if overrides:
        _apply(cfg, overrides)
    _validate(cfg)
    return cfg


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in top.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out

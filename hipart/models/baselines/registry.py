"""The baseline registry: name -> how to build, feed, train and evaluate a method. One file per method registers
itself here (see ``hipart/models/baselines/__init__.py``); the trainer (``hipart.training.baselines``), the CLI
(``hipart train NAME``), ``train all --with-baselines`` and the bench suite read this table only.

Detector confidence: a method whose settings declare ``confidence`` (an architecture setting, off by default and
stored only when on, ``hipart.config.setting(..., omit_default=True)``) reads the detector's per-joint confidence c
as one more input channel per joint when it is on (:func:`reads_confidence`). Its items then carry ``"c"``: the
sparse joints' confidence (N, 17) of ``Context.lift_frames``, per item as the method windows its frames; its build
``info`` holds the dataset's part labels (``"parts"``), which spread a sparse joint's confidence over the dense and
fine joints of its body part (``hipart.models.lifter.confidence_joints``).
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import numpy as np
import torch
from torch import nn

from hipart.config import Config, settings_from
from hipart.errors import HipartError

Tensors = dict[str, torch.Tensor]


class Context(Protocol):
    """What a method's ``data`` function may read (implemented by ``hipart.training.baselines.BaselineContext``):
    the dataset's splits in the shapes methods need and the run's trained HiPART stages."""

    levels: dict[str, int]

    def lift_frames(self, split: str, mode: str) -> Any:
        """Lifter inputs of every frame: ``.x`` (N, J, 2) screen-normalized, ``.c`` (N, 17) the sparse joints'
        confidence, ``.X`` (N, 17, 3) mm, ``.action``."""

    def sequence_bounds(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """Per frame, the first and one-past-last frame of its sequence."""

    def pose_tensors(self, split: str) -> Any:
        """Normalized levels ``.x_s``, ``.x_d``, ``.x_f`` with ``.root``, ``.scale`` and ``.action``."""

    def msst(self) -> nn.Module:
        """The run's trained MSST."""

    def tokens(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """MSST token indices (N, 17), (N, 17, r) of the clean fine poses."""


def reads_confidence(settings: Any) -> bool:
    """Whether a method with these settings reads the detector's per-joint confidence (module docstring)."""
    return bool(getattr(settings, "confidence", False))


def with_confidence(x: torch.Tensor, c: torch.Tensor | None, reads: bool, what: str) -> torch.Tensor:
    """A baseline's 2D input x (..., J, 2) with, where the model ``reads`` it, the per-joint confidence c (..., J)
    as a third channel -> (..., J, 2 or 3); a model that reads it needs c of x's (..., J) (a one-line error naming
    ``what``). A model that does not read it ignores c."""
    if not reads:
        return x
    if c is None or tuple(c.shape) != tuple(x.shape[:-1]):
        raise HipartError(f"{what} reads the detector's per-joint confidence (its 'confidence' setting): pass c of "
                          f"shape {tuple(x.shape[:-1])}, got {None if c is None else tuple(c.shape)}")
    return torch.cat([x, c.to(x.dtype)[..., None]], dim=-1)


def checkpoint_kind(name: str) -> str:
    """The checkpoint kind of baseline ``name`` (see hipart.runs)."""
    return f"baseline:{name}"


@dataclass(frozen=True)
class SplitData:
    """What a method trains and is scored on. ``items`` are what batches index (first axis = item). ``frames`` are
    the ground truth of every frame of the split (``X`` (N, 17, 3) mm for lifters; ``x_d``, ``x_f`` px for
    densifiers) plus ``action`` (N,). Items that cover several frames carry ``frame_index`` (B, f) and ``valid``
    (B, f); otherwise item i is frame i."""

    items: Tensors
    frames: Tensors


@dataclass(frozen=True)
class Method:
    name: str
    task: str  # "lift" (3D, scored by MPJPE) or "densify" (x_s -> x_d, x_f, scored by 2D error in px)
    summary: str  # one line: what it is and whose design it follows
    config: type  # dataclass of its settings; defaults are the published setting where one exists
    # (settings, info) -> model; info holds "levels" (the dataset's) and, for methods that need the run's MSST,
    # "msst_args"; it is stored in the checkpoint so the model can be rebuilt
    build: Callable[[Any, dict[str, Any]], nn.Module]
    data: Callable[[Context, Any, str], SplitData]  # (context, settings, split)
    loss: Callable[[nn.Module, Tensors, Any], tuple[torch.Tensor, dict[str, float]]]
    predict: Callable[[nn.Module, Tensors, Any], Tensors]  # batch of items -> {"X"} mm or {"x_d", "x_f"} px
    folder: Callable[[Any], str] | None = None  # run sub-folder; default baseline_<name>
    needs: Callable[[Any], tuple[str, ...]] = lambda settings: ()  # run stages read: "msst", "hiarm"
    prepare: Callable[[nn.Module, Context], None] | None = None  # after a fresh build, before training

    def folder_name(self, settings: Any) -> str:
        return f"baseline_{self.folder(settings) if self.folder else self.name}"


METHODS: dict[str, Method] = {}


def register(method: Method) -> Method:
    if method.name in METHODS:
        raise ValueError(f"baseline '{method.name}' is registered twice")
    if method.task not in ("lift", "densify"):
        raise ValueError(f"baseline '{method.name}': task must be lift or densify, got '{method.task}'")
    METHODS[method.name] = method
    return method


def registered(task: str | None = None) -> list[Method]:
    """Every registered method (of ``task``, if given), by name."""
    importlib.import_module("hipart.models.baselines")  # importing the package registers every method
    return [m for _, m in sorted(METHODS.items()) if task is None or m.task == task]


def get_method(name: str) -> Method:
    importlib.import_module("hipart.models.baselines")  # importing the package registers every method
    if name not in METHODS:
        raise HipartError(f"unknown baseline '{name}'; registered: {', '.join(sorted(METHODS))}")
    return METHODS[name]


def method_settings(cfg: Config, name: str, **overrides: Any) -> Any:
    """The method's settings: its defaults, then ``baselines.<name>`` of the config, then ``overrides``."""
    method = get_method(name)
    strangers = sorted(set(cfg.baselines) - set(METHODS))  # a misspelt section would be silently ignored
    if strangers:
        raise HipartError(f"config key 'baselines.{strangers[0]}': no such baseline; registered: "
                          f"{', '.join(sorted(METHODS))}")
    known = {f.name for f in dataclasses.fields(method.config)}
    values = {**cfg.baselines.get(name, {}), **{k: v for k, v in overrides.items() if v is not None}}
    unknown = sorted(set(values) - known)
    if unknown:
        raise HipartError(f"baselines.{name}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return settings_from(method.config, values, f"baselines.{name}.")

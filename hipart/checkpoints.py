"""The checkpoint contract every stage and baseline shares, and the checks that decide whether a stage folder's
checkpoint can be skipped, continued or must be refused.

A checkpoint is a dict saved with ``torch.save`` (atomically) and read with ``weights_only=True`` (no code runs on
load), holding at least ``kind`` (the stage, e.g. ``msst`` or ``baseline:diffpose``), ``model`` (the state dict),
``model_args`` (what rebuilds the model: ``Model.from_args``; for a HiPART stage, its ``cfg`` is the architecture part
of the stage's settings, :func:`hipart.config.architecture`), ``config`` (the run's config), ``epoch``, ``step``,
``finished`` and ``hierarchy_hash``; plus the optimiser and scheduler state for an exact resume, and its provenance
(``data_sha256``, ``upstream``: the sha256 of the dataset manifest and of the stage checkpoints it was trained on).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from hipart.errors import HipartError
from hipart.io import atomic_path
from hipart.runs import StageDir


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | Path, kind: str) -> dict[str, Any]:
    """The payload of a ``kind`` checkpoint; missing, unreadable or foreign files are one-line errors."""
    path = Path(path)
    if not path.is_file():
        raise HipartError(f"{path}: checkpoint not found; train the stage first (hipart train {kind.split(':')[-1]})")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for truncated, foreign or malicious files
        raise HipartError(f"{path}: unreadable checkpoint ({type(exc).__name__}); retrain with --force") from None
    if not isinstance(payload, dict) or payload.get("kind") != kind:
        found = payload.get("kind") if isinstance(payload, dict) else type(payload).__name__
        raise HipartError(f"{path}: a '{found}' checkpoint, expected '{kind}'")
    missing = [k for k in ("model", "model_args", "hierarchy_hash") if k not in payload]
    if missing:
        raise HipartError(f"{path}: the checkpoint lacks {', '.join(missing)}; retrain the stage with --force")
    return payload


def load_model(path: str | Path, kind: str, build: Callable[[dict[str, Any]], nn.Module]
               ) -> tuple[nn.Module, dict[str, Any]]:
    """A trained model in eval mode, rebuilt by ``build(model_args)``, and its checkpoint payload."""
    ckpt = load_checkpoint(path, kind)
    try:
        model = build(ckpt["model_args"])
        model.load_state_dict(ckpt["model"])
    except HipartError as exc:  # e.g. model settings this version does not have (hipart.config.from_architecture)
        raise HipartError(f"{path}: {exc}") from None
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise HipartError(f"{path}: the weights do not fit the model they describe ({type(exc).__name__}); "
                          "retrain the stage with --force") from None
    return model.eval(), ckpt


def check_fresh(stage: StageDir, resume: bool, force: bool) -> None:
    """Refuse to overwrite a stage's checkpoint unless resuming or forcing, to resume a checkpoint that does not
    exist, and a stage folder that is a file."""
    if stage.path.exists() and not stage.path.is_dir():
        raise HipartError(f"{stage.path} is a file; give a folder for the stage (--out)")
    if stage.checkpoint.exists() and not (resume or force):
        raise HipartError(f"{stage.checkpoint} exists; pass --resume to continue it or --force to train again")
    if resume and not force and not stage.checkpoint.exists():
        raise HipartError(f"--resume: {stage.checkpoint} does not exist, so there is nothing to continue; drop "
                          "--resume to start training ('hipart train all' resumes or starts each stage as needed)")


def stage_state(stage: StageDir, kind: str, differences: Callable[[dict[str, Any]], list[str]], what: str) -> str:
    """'missing', 'partial' (resume it) or 'done'. ``differences(checkpoint)`` names the settings in which the
    checkpoint differs from what is asked; any difference is refused (retrain with --force or use another run)."""
    if not stage.checkpoint.exists():
        return "missing"
    ckpt = load_checkpoint(stage.checkpoint, kind)
    diff = differences(ckpt)
    if diff:
        raise HipartError(f"{stage.checkpoint} was trained with other {what} ({', '.join(diff[:5])}); pass --force "
                          "to retrain it or use another --out")
    return "done" if ckpt.get("finished") and stage.summary.is_file() else "partial"


def dict_differences(mine: dict[str, Any], theirs: dict[str, Any] | None) -> list[str]:
    """Keys whose values differ between two flat settings dicts (missing counts as different)."""
    theirs = theirs or {}
    return sorted(k for k in set(mine) | set(theirs) if theirs.get(k) != mine.get(k))

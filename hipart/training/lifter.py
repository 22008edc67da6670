"""``hipart train lifter``: 2D (sparse or hierarchical) to root-relative 3D, MPJPE loss, Adam with step decay.

The ``hier`` lifter trains on what it will see at test time: the dense and fine levels that HiARM + MSST produce from
each frame's sparse 2D pose, computed once and cached (``hier_{split}.pt``, keyed by the sha256 of both
checkpoints and of the dataset manifest). ``gt-hier`` uses the dataset's true dense and fine levels instead.
Evaluation: MPJPE and P-MPJPE per action on the test split (``eval.csv``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch

from hipart import __version__
from hipart.camera import normalize_pixels
from hipart.config import Config
from hipart.data.build import MANIFEST
from hipart.data.dataset import PoseDataset
from hipart.data.shards import file_sha256
from hipart.errors import HipartError
from hipart.io import atomic_path, write_json_atomic
from hipart.metrics import mpjpe, p_mpjpe, per_action_table
from hipart.models.complexity import count_params_flops
from hipart.models.lifter import Lifter, input_joints
from hipart.skeleton import H36M_ACTIONS
from hipart.training.engine import (Runtime, Stage, check_run_folder, fit, load_checkpoint, resume_state, seed_all,
                                    start_runtime, stop_runtime)

KIND = "lifter"


@dataclass
class LiftTensors:
    x: torch.Tensor  # (N, K, 2) screen-normalised input joints
    X: torch.Tensor  # (N, 17, 3) root-relative mm
    action: np.ndarray  # (N,) action index

    def __len__(self) -> int:
        return len(self.X)


@torch.no_grad()
def densified_levels(data_dir: Path, split: str, x_s_px: np.ndarray, stage_dirs: tuple[Path, Path],
                     cache: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """HiARM + MSST dense and fine levels (px) for the split's sparse poses, from the cache when it matches
    (``cache`` None: computed, not stored)."""
    from hipart.training.hiarm import densify, load_hiarm
    from hipart.training.msst import load_msst

    msst_path, hiarm_path = (d / "checkpoint.pt" for d in stage_dirs)
    key = f"{file_sha256(msst_path)}:{file_sha256(hiarm_path)}:{file_sha256(data_dir / MANIFEST)}:{len(x_s_px)}"
    path = cache / f"hier_{split}.pt" if cache is not None else None
    if path is not None and path.is_file():
        stored = torch.load(path, weights_only=True)
        if stored.get("key") == key:
            return stored["x_d"].numpy(), stored["x_f"].numpy()
    hiarm, _ = load_hiarm(hiarm_path)
    msst, _ = load_msst(msst_path)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    out = densify(hiarm.to(device), msst.to(device), torch.from_numpy(x_s_px))
    if path is None:
        return out["x_d"].numpy(), out["x_f"].numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save({"key": key, "x_d": out["x_d"], "x_f": out["x_f"]}, tmp)
    return out["x_d"].numpy(), out["x_f"].numpy()


def lifter_inputs(mode: str, data_dir: Path, split: str, stage_dirs: tuple[Path, Path] | None, cache: Path | None,
                  max_items: int | None = None, x_s_px: np.ndarray | None = None) -> LiftTensors:
    """The split's lifter inputs and targets. ``x_s_px`` (N, 17, 2) replaces the dataset's sparse 2D poses (e.g.
    occluded ones; ``hier`` then densifies them afresh, ``cache`` is not used)."""
    a = PoseDataset(data_dir, split, fields=("x_s", "x_d", "x_f", "X_s"), normalize=False).arrays()
    if x_s_px is not None:
        if x_s_px.shape != a["x_s"].shape or not np.isfinite(x_s_px).all():
            raise HipartError(f"replacement sparse poses: shape {x_s_px.shape} (finite values required); the "
                              f"{split} split needs {a['x_s'].shape}")
        a["x_s"], cache = x_s_px.astype(np.float32), None
    if max_items is not None and len(a["action"]) > max_items:
        keep = np.linspace(0, len(a["action"]) - 1, max_items).round().astype(int)
        a = {k: v[keep] for k, v in a.items()}
    if mode == "sparse":
        joints = a["x_s"]
    elif mode == "gt-hier":
        joints = np.concatenate([a["x_s"], a["x_d"], a["x_f"]], axis=1)
    elif mode == "hier":
        if stage_dirs is None:
            raise HipartError("the hier lifter needs trained MSST and HiARM run folders")
        x_d, x_f = densified_levels(data_dir, split, a["x_s"], stage_dirs, cache)
        joints = np.concatenate([a["x_s"], x_d, x_f], axis=1)
    else:
        raise HipartError(f"unknown lifter input '{mode}'; use hier, sparse or gt-hier")
    x = normalize_pixels(joints.astype(np.float32), a["image_size"])
    X = a["X_s"] - a["X_s"][:, :1]
    return LiftTensors(torch.from_numpy(x.astype(np.float32)), torch.from_numpy(X.astype(np.float32)), a["action"])


@torch.no_grad()
def evaluate_lifter(model: Lifter, data: LiftTensors, batch_size: int = 2048) -> pd.DataFrame:
    """MPJPE and P-MPJPE (mm) per action on ``data`` plus their average over actions."""
    was = model.training
    model.eval()
    dev = next(model.parameters()).device
    preds = torch.cat([model(data.x[i:i + batch_size].to(dev)).cpu() for i in range(0, len(data), batch_size)])
    model.train(was)
    names = np.array(H36M_ACTIONS)[data.action]
    return per_action_table({"MPJPE": mpjpe(preds, data.X), "P-MPJPE": p_mpjpe(preds.double(), data.X.double())},
                            names)


def load_lifter(path: str | Path) -> tuple[Lifter, dict[str, Any]]:
    ckpt = load_checkpoint(path, KIND)
    model = Lifter.from_args(ckpt["model_args"])
    model.load_state_dict(ckpt["model"])
    return model.eval(), ckpt


def train_lifter(cfg: Config, data_dir: str | Path, out_dir: str | Path, stage_dirs: tuple[Path, Path] | None,
                 resume: bool = False, force: bool = False, progress: bool = True,
                 log: Callable[[str], None] = print, max_test: int | None = None) -> dict[str, Any]:
    out = Path(out_dir)
    check_run_folder(out, resume, force)
    rt = start_runtime(cfg.device)
    try:
        return _train(cfg, Path(data_dir), out, stage_dirs, resume and (out / "checkpoint.pt").exists(), progress,
                      log, rt, max_test)
    finally:
        stop_runtime(rt)


def _train(cfg: Config, data_dir: Path, out: Path, stage_dirs: tuple[Path, Path] | None, resume: bool,
           progress: bool, log: Callable[[str], None], rt: Runtime, max_test: int | None) -> dict[str, Any]:
    L = cfg.lifter
    train_ds = PoseDataset(data_dir, "train", fields=("x_s",), verify=rt.is_main)
    seed_all(cfg.seed)
    model = Lifter(L, input_joints(L.input, train_ds.levels))
    ckpt, finished = resume_state(out, KIND, model, train_ds.hierarchy_hash, cfg.name, resume, log)
    if finished is not None:
        return finished
    train = lifter_inputs(L.input, data_dir, "train", stage_dirs, out)
    test = lifter_inputs(L.input, data_dir, "test", stage_dirs, out, max_test)
    model.to(rt.device)
    x, X = train.x.to(rt.device), train.X.to(rt.device)
    if rt.is_main:
        out.mkdir(parents=True, exist_ok=True)
        cfg.save(out / "config.yaml")
        log(f"lifter ({L.input}, {model.num_inputs} joints in): {len(train)} train / {len(test)} test frames, "
            f"device {rt.device}" + (f"; resuming after epoch {ckpt['epoch']}" if ckpt else ""))

    def step(net: torch.nn.Module, idx: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        loss = (net(x[idx]) - X[idx]).norm(dim=-1).mean()
        return loss, {"loss": loss.item()}

    def evaluate(core: Lifter) -> dict[str, float]:
        avg = evaluate_lifter(core, test).loc["Average"]
        return {"mpjpe": float(avg["MPJPE"]), "p_mpjpe": float(avg["P-MPJPE"])}

    def schedule(opt: torch.optim.Optimizer, per_epoch: int) -> torch.optim.lr_scheduler.LRScheduler:
        return torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, L.decay_every * per_epoch), gamma=L.lr_decay)

    stage = Stage(KIND, model, len(train), L.epochs, L.batch_size, cfg.seed, step, evaluate,
                  lambda row: f"MPJPE train {row['loss']:.1f} mm, test {row['test_mpjpe']:.1f} mm "
                              f"(P-MPJPE {row['test_p_mpjpe']:.1f})",
                  lambda: {"model_args": model.model_args(), "config": cfg.to_dict(), "input": L.input,
                           "hierarchy_hash": train_ds.hierarchy_hash, "levels": train_ds.levels,
                           "hipart_version": __version__})
    # Adam as in the paper: AdamW with zero weight decay is the same update.
    state = fit(stage, rt, out, L.lr, 0.0, schedule, ckpt, progress, log)
    if not rt.is_main:
        return {}
    table = evaluate_lifter(model, test)
    with atomic_path(out / "eval.csv") as tmp:
        table.to_csv(tmp)
    summary = {"stage": KIND, "input": L.input, "config": cfg.name, "epochs": L.epochs, "steps": state["step"],
               "test": {"mpjpe": float(table.loc["Average", "MPJPE"]), "p_mpjpe": float(table.loc["Average", "P-MPJPE"]),
                        "frames": len(test)},
               "complexity": count_params_flops(model, test.x[:1].to(rt.device)),
               "hierarchy_hash": train_ds.hierarchy_hash, "data": str(data_dir), "hipart_version": __version__}
    write_json_atomic(out / "summary.json", summary)
    return summary

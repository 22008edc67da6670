"""``hipart train msst``: fit the tokenizer on a built dataset; checkpoints, resume, metrics, DDP.

Stage folder (``--out``, layout in :mod:`hipart.runs`): the checkpoint (model, optimiser, scheduler, epoch, config,
normalization, hierarchy hash), ``config.yaml``, ``metrics.csv`` (one row per epoch, every loss term, codebook use,
test reconstruction error in pixels) and ``summary.json`` once training has finished.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from hipart import __version__
from hipart.coarsen.hierarchy import Hierarchy
from hipart.config import Config
from hipart.data.build import MANIFEST
from hipart.data.dataset import PoseDataset
from hipart.io import write_json_atomic
from hipart.models.complexity import count_params_flops
from hipart.models.msst import KIND, MSST, PoseNormalizer, msst_loss
from hipart.runs import StageDir
from hipart.training.engine import Runtime, Stage, fit, provenance, resume_state, run_stage, seed_all, warmup_cosine
from hipart.training.inputs import SplitFrames, split_frames


@dataclass
class PoseTensors:
    """One split in memory: normalized levels plus what converts them back to pixels."""

    x_s: torch.Tensor  # (N, 17, 2) normalized
    x_d: torch.Tensor  # (N, 48, 2)
    x_f: torch.Tensor  # (N, 96, 2)
    root: torch.Tensor  # (N, 1, 2) px
    scale: torch.Tensor  # (N, 1, 1) px
    action: torch.Tensor  # (N,)
    confidence: torch.Tensor  # (N, 17) the observed x_s's per-joint confidence (SplitFrames.confidence)
    source: str = ""  # what the observed x_s is (SplitFrames.source): part of the token cache's key

    def __len__(self) -> int:
        return len(self.action)

    def to(self, device: torch.device) -> "PoseTensors":
        return replace(self, **{f: getattr(self, f).to(device) for f in TENSOR_FIELDS})

    def take(self, index: np.ndarray) -> "PoseTensors":
        idx = torch.as_tensor(index, device=self.x_s.device)
        return replace(self, **{f: getattr(self, f)[idx] for f in TENSOR_FIELDS},
                       source=f"{self.source}[{len(self)}->{len(index)}]")


TENSOR_FIELDS = ("x_s", "x_d", "x_f", "root", "scale", "action", "confidence")


def evenly_spaced(n: int, max_items: int | None) -> np.ndarray | None:
    """Indices of an evenly spaced, deterministic subset of ``max_items`` of ``n`` items (None: keep all)."""
    if not max_items or n <= max_items:
        return None
    return np.linspace(0, n - 1, max_items).round().astype(int)


def pose_tensors(frames: SplitFrames) -> PoseTensors:
    """Frames as the tokenizer and densifiers see them: every level normalized by the *observed* sparse pose's own
    frame (pelvis, RMS radius), as at test time, where only the observed pose is known."""
    x_s = torch.from_numpy(frames.x_s)
    root, scale = PoseNormalizer.frame(x_s)
    n = PoseNormalizer.normalize
    return PoseTensors(n(x_s, root, scale), n(torch.from_numpy(frames.x_d), root, scale),
                       n(torch.from_numpy(frames.x_f), root, scale), root, scale,
                       torch.from_numpy(frames.action).long(), torch.from_numpy(frames.confidence), frames.source)


def load_pose_tensors(data_dir: str | Path, split: str, max_items: int | None = None, keypoints: str = "gt",
                      drop_undetected: bool = False, log: Callable[[str], None] = print) -> PoseTensors:
    """A split's :func:`pose_tensors` (an evenly spaced ``max_items`` of them) with the chosen keypoints."""
    data = pose_tensors(split_frames(data_dir, split, keypoints, drop_undetected, log))
    keep = evenly_spaced(len(data), max_items)
    return data if keep is None else data.take(keep)


@torch.no_grad()
def evaluate_msst(model: MSST, data: PoseTensors, batch_size: int = 1024) -> dict[str, float]:
    """Mean per-joint 2D reconstruction error (px) of x_d and x_f, and codebook use, in eval mode."""
    was_training = model.training
    model.eval()
    err_d = err_f = 0.0
    used_s, used_d = set(), set()
    for start in range(0, len(data), batch_size):
        sl = slice(start, start + batch_size)
        out = model(data.x_f[sl])
        den = PoseNormalizer.denormalize
        root, scale = data.root[sl], data.scale[sl]
        err_d += (den(out.x_d, root, scale) - den(data.x_d[sl], root, scale)).norm(dim=-1).mean(-1).sum().item()
        err_f += (den(out.x_f, root, scale) - den(data.x_f[sl], root, scale)).norm(dim=-1).mean(-1).sum().item()
        used_s.update(out.q_s.unique().tolist())
        used_d.update(out.q_d.unique().tolist())
    model.train(was_training)
    n = len(data)
    return {"x_d_px": err_d / n, "x_f_px": err_f / n, "codes_used_s": len(used_s), "codes_used_d": len(used_d)}


def build_msst(cfg: Config, hierarchy: Hierarchy | None) -> MSST:
    """An untrained MSST for ``hierarchy`` (None: the default 96 / 48 levels without part labels)."""
    levels = (96, 48) if hierarchy is None else hierarchy.levels
    parts = None if hierarchy is None else hierarchy.parts[0]
    return MSST(cfg.msst, levels[0], levels[1], parts)


def complexity(model: MSST) -> dict[str, float]:
    return count_params_flops(model, torch.zeros(1, model.num_fine, 2))


def train_msst(cfg: Config, data_dir: str | Path, out_dir: str | Path, resume: bool = False, force: bool = False,
               progress: bool = True, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train (or resume) MSST on ``data_dir``; returns the summary (also written to summary.json)."""
    out = StageDir(Path(out_dir))
    return run_stage(out, resume, force, cfg.device,
                     lambda rt, resuming: _train(cfg, Path(data_dir), out, resuming, progress, log, rt))


def _train(cfg: Config, data_dir: Path, out: StageDir, resume: bool, progress: bool, log: Callable[[str], None],
           rt: Runtime) -> dict[str, Any]:
    m = cfg.msst
    train_ds = PoseDataset(data_dir, "train", fields=("x_s",), verify=rt.is_main)
    hier = Hierarchy.load(train_ds.hierarchy_path)
    seed_all(cfg.seed)  # the initial weights depend on the seed only
    model = build_msst(cfg, hier)
    ckpt, finished = resume_state(out, KIND, model, train_ds.hierarchy_hash, cfg.name, resume, log)
    if finished is not None:
        return finished
    model.to(rt.device)
    train = load_pose_tensors(data_dir, "train").to(rt.device)
    test = load_pose_tensors(data_dir, "test", max_items=m.eval_frames).to(rt.device)
    if rt.is_main:
        out.path.mkdir(parents=True, exist_ok=True)
        cfg.save(out.config)
        log(f"MSST: {len(train)} train / {len(test)} test frames, device {rt.device}"
            + (f", {rt.world_size} processes" if rt.distributed else "")
            + (f"; resuming after epoch {ckpt['epoch']}" if ckpt else ""))

    def step(net: torch.nn.Module, idx: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        return msst_loss(net(train.x_f[idx]), train.x_d[idx], train.x_f[idx], train.action[idx], m)

    def before_epoch(core: MSST) -> None:
        core.Q_s.reset_hits()
        core.Q_d.reset_hits()

    prov = provenance(data_dir / MANIFEST, {})
    stage = Stage(
        KIND, model, len(train), m.epochs, m.batch_size, cfg.seed, step, lambda core: evaluate_msst(core, test),
        lambda row: (f"loss {row['loss']:.4f}, test x_d {row['test_x_d_px']:.2f} px, x_f {row['test_x_f_px']:.2f} px, "
                     f"codes {row['test_codes_used_s']}/{row['test_codes_used_d']}"),
        lambda: {"model_args": model.model_args(), "config": cfg.to_dict(), "normalization": PoseNormalizer.describe(),
                 "hierarchy_hash": train_ds.hierarchy_hash, "levels": train_ds.levels, "hipart_version": __version__,
                 **prov},
        before_epoch, lambda core: {"codes_hit_s": core.Q_s.usage(), "codes_hit_d": core.Q_d.usage()})
    state = fit(stage, rt, out, m.lr, m.weight_decay,
                lambda opt, per_epoch: warmup_cosine(opt, m.warmup_iters, per_epoch * m.epochs), ckpt, progress, log)
    if not rt.is_main:
        return {}
    core = model.cpu()
    summary = {"stage": KIND, "config": cfg.name, "epochs": m.epochs, "steps": state["step"],
               "world_size": rt.world_size, "test": evaluate_msst(core, test.to(torch.device("cpu"))),
               "complexity": complexity(core), "hierarchy_hash": train_ds.hierarchy_hash,
               "data": str(data_dir), "hipart_version": __version__}
    write_json_atomic(out.summary, summary)
    return summary

"""``hipart train msst``: fit the tokenizer on a built dataset; checkpoints, resume, metrics, DDP.

Run folder (``--out``): ``checkpoint.pt`` (model, optimiser, scheduler, epoch, config, normalisation, hierarchy
hash), ``config.yaml``, ``metrics.csv`` (one row per epoch, every loss term, codebook use, test reconstruction
error in pixels) and ``summary.json`` once training has finished.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from tqdm import tqdm

from hipart import __version__
from hipart.coarsen.hierarchy import Hierarchy
from hipart.config import Config
from hipart.data.dataset import PoseDataset
from hipart.errors import HipartError
from hipart.io import write_json_atomic
from hipart.models.complexity import count_params_flops
from hipart.models.msst import MSST, PoseNormalizer, msst_loss
from hipart.training.engine import (Runtime, batches, load_checkpoint, save_checkpoint, seed_all, start_runtime,
                                    steps_per_epoch, stop_runtime, unwrap, warmup_cosine, write_metrics)

CHECKPOINT = "checkpoint.pt"
KIND = "msst"


@dataclass
class PoseTensors:
    """One split in memory: normalised levels plus what converts them back to pixels."""

    x_s: torch.Tensor  # (N, 17, 2) normalised
    x_d: torch.Tensor  # (N, 48, 2)
    x_f: torch.Tensor  # (N, 96, 2)
    root: torch.Tensor  # (N, 1, 2) px
    scale: torch.Tensor  # (N, 1, 1) px
    action: torch.Tensor  # (N,)

    def __len__(self) -> int:
        return len(self.action)

    def to(self, device: torch.device) -> "PoseTensors":
        return PoseTensors(*(getattr(self, f).to(device) for f in ("x_s", "x_d", "x_f", "root", "scale", "action")))


def load_pose_tensors(data_dir: str | Path, split: str, hierarchy_hash: str | None = None,
                      max_items: int | None = None) -> PoseTensors:
    ds = PoseDataset(data_dir, split, fields=("x_s", "x_d", "x_f"), normalize=False, hierarchy_hash=hierarchy_hash)
    a = ds.arrays()
    if max_items is not None and len(a["action"]) > max_items:  # evenly spaced subset, deterministic
        keep = np.linspace(0, len(a["action"]) - 1, max_items).round().astype(int)
        a = {k: v[keep] for k, v in a.items()}
    x_s, x_d, x_f = (torch.from_numpy(a[k]) for k in ("x_s", "x_d", "x_f"))
    root, scale = PoseNormalizer.frame(x_s)
    n = PoseNormalizer.normalize
    return PoseTensors(n(x_s, root, scale), n(x_d, root, scale), n(x_f, root, scale), root, scale,
                       torch.from_numpy(a["action"]).long())


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
    levels = (96, 48) if hierarchy is None else hierarchy.levels
    parts = None if hierarchy is None else hierarchy.parts[0]
    return MSST(cfg.msst, levels[0], levels[1], parts)


def complexity(model: MSST) -> dict[str, float]:
    return count_params_flops(model, torch.zeros(1, model.num_fine, 2))


def load_msst(path: str | Path) -> tuple[MSST, dict[str, Any]]:
    """A trained MSST (eval mode) and its checkpoint payload."""
    ckpt = load_checkpoint(path, KIND)
    model = MSST.from_args(ckpt["model_args"])
    model.load_state_dict(ckpt["model"])
    model.eval()
    return model, ckpt


def train_msst(cfg: Config, data_dir: str | Path, out_dir: str | Path, resume: bool = False, force: bool = False,
               progress: bool = True, log: Callable[[str], None] = print, max_test: int | None = 20000
               ) -> dict[str, Any]:
    """Train (or resume) MSST on ``data_dir``; returns the summary (also written to summary.json)."""
    out = Path(out_dir)
    ckpt_path = out / CHECKPOINT
    if ckpt_path.exists() and not (resume or force):
        raise HipartError(f"{ckpt_path} exists; pass --resume to continue it or --force to train again")
    rt = start_runtime(cfg.device)
    try:
        return _train(cfg, Path(data_dir), out, ckpt_path, resume and ckpt_path.exists(), progress, log, rt,
                      max_test)
    finally:
        stop_runtime(rt)


def _train(cfg: Config, data_dir: Path, out: Path, ckpt_path: Path, resume: bool, progress: bool,
           log: Callable[[str], None], rt: Runtime, max_test: int | None) -> dict[str, Any]:
    m = cfg.msst
    train_ds = PoseDataset(data_dir, "train", fields=("x_s",), verify=rt.is_main)
    hier = Hierarchy.load(train_ds.hierarchy_path)
    seed_all(cfg.seed)  # the initial weights depend on the seed only
    model = build_msst(cfg, hier)
    state: dict[str, Any] = {"epoch": 0, "step": 0, "metrics": []}
    if resume:
        ckpt = load_checkpoint(ckpt_path, KIND)
        if ckpt["hierarchy_hash"] != train_ds.hierarchy_hash:
            raise HipartError(f"{ckpt_path} was trained on another hierarchy than {data_dir}; use --force to retrain")
        if ckpt["model_args"] != model.model_args():
            raise HipartError(f"{ckpt_path} was made with other model settings than config '{cfg.name}'; use the "
                              "checkpoint's config or --force")
        if ckpt["finished"]:
            log(f"{ckpt_path}: already trained ({ckpt['epoch']} epochs); nothing to do (--force retrains)")
            return json.loads((out / "summary.json").read_text())
        model.load_state_dict(ckpt["model"])
        state = {k: ckpt[k] for k in ("epoch", "step", "metrics")}
    model.to(rt.device)
    train = load_pose_tensors(data_dir, "train").to(rt.device)
    test = load_pose_tensors(data_dir, "test", max_items=max_test).to(rt.device)
    ddp = torch.nn.parallel.DistributedDataParallel(model, broadcast_buffers=False) if rt.distributed else model
    optimizer = torch.optim.AdamW(ddp.parameters(), lr=m.lr, weight_decay=m.weight_decay)
    per_epoch = steps_per_epoch(len(train), m.batch_size, rt)
    scheduler = warmup_cosine(optimizer, m.warmup_iters, per_epoch * m.epochs)
    if resume:
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
    if rt.is_main:
        out.mkdir(parents=True, exist_ok=True)
        cfg.save(out / "config.yaml")
        log(f"MSST: {len(train)} train / {len(test)} test frames, {per_epoch} steps per epoch, device {rt.device}"
            + (f", {rt.world_size} processes" if rt.distributed else "")
            + (f"; resuming at epoch {state['epoch'] + 1}" if resume else ""))
    for epoch in range(state["epoch"], m.epochs):
        seed_all(cfg.seed * 1000 + epoch)  # per-epoch seeding: a resumed run repeats the uninterrupted one
        unwrap(ddp).Q_s.reset_hits()
        unwrap(ddp).Q_d.reset_hits()
        start, sums, count = time.perf_counter(), {}, 0
        bar = tqdm(total=per_epoch, desc=f"msst {epoch + 1}/{m.epochs}", disable=not (progress and rt.is_main),
                   dynamic_ncols=True, leave=False)
        for idx in batches(len(train), m.batch_size, cfg.seed, epoch, rt):
            idx = idx.to(rt.device)
            output = ddp(train.x_f[idx])
            loss, terms = msst_loss(output, train.x_d[idx], train.x_f[idx], train.action[idx], m)
            if not torch.isfinite(loss):
                raise HipartError(f"MSST loss became {loss.item()} at epoch {epoch + 1}; lower msst.lr or check the "
                                  "dataset for NaNs")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            state["step"] += 1
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + v
            count += 1
            bar.update()
            bar.set_postfix(loss=f"{terms['loss']:.3f}", codes=f"{unwrap(ddp).Q_s.usage()}/{unwrap(ddp).Q_d.usage()}")
        bar.close()
        core = unwrap(ddp)
        row = {"epoch": epoch + 1, "step": state["step"], "lr": scheduler.get_last_lr()[0],
               **{k: v / max(1, count) for k, v in sums.items()},
               "codes_hit_s": core.Q_s.usage(), "codes_hit_d": core.Q_d.usage()}
        if rt.is_main:
            row.update({f"test_{k}": v for k, v in evaluate_msst(core, test).items()})
            row["seconds"] = round(time.perf_counter() - start, 2)
            state["metrics"].append(row)
            state["epoch"] = epoch + 1
            write_metrics(out / "metrics.csv", state["metrics"])
            save_checkpoint(ckpt_path, _payload(core, optimizer, scheduler, state, cfg, train_ds, rt,
                                                finished=epoch + 1 == m.epochs))
            log(f"epoch {epoch + 1}/{m.epochs}: loss {row['loss']:.4f}, test x_d {row['test_x_d_px']:.2f} px, "
                f"x_f {row['test_x_f_px']:.2f} px, codes {row['test_codes_used_s']}/{row['test_codes_used_d']} "
                f"({row['seconds']:.1f} s)")
        state["epoch"] = epoch + 1
    if not rt.is_main:
        return {}
    core = unwrap(ddp).cpu()
    summary = {"stage": KIND, "config": cfg.name, "epochs": m.epochs, "steps": state["step"],
               "world_size": rt.world_size, "test": evaluate_msst(core, test.to(torch.device("cpu"))),
               "complexity": complexity(core), "hierarchy_hash": train_ds.hierarchy_hash,
               "data": str(data_dir), "hipart_version": __version__}
    write_json_atomic(out / "summary.json", summary)
    return summary


def _payload(model: MSST, optimizer: torch.optim.Optimizer, scheduler: Any, state: dict[str, Any], cfg: Config,
             train_ds: PoseDataset, rt: Runtime, finished: bool) -> dict[str, Any]:
    return {"kind": KIND, "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "model_args": model.model_args(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "epoch": state["epoch"], "step": state["step"],
            "metrics": state["metrics"], "config": cfg.to_dict(), "normalisation": PoseNormalizer.describe(),
            "hierarchy_hash": train_ds.hierarchy_hash, "levels": train_ds.levels, "world_size": rt.world_size,
            "finished": finished, "hipart_version": __version__}

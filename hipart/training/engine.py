"""What every training stage shares: device and DistributedDataParallel set-up (torchrun), seeding, the warm-up +
cosine schedule, batches over in-memory tensors, the per-epoch metrics CSV, resuming, the epoch loop itself
(:func:`fit`) and the wrapper every stage trainer runs in (:func:`run_stage`). Checkpoints follow
:mod:`hipart.runs`."""

from __future__ import annotations

import copy
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
from tqdm import tqdm

from hipart.checkpoints import check_fresh, load_checkpoint, save_checkpoint
from hipart.device import pick_device
from hipart.errors import HipartError
from hipart.io import atomic_path, file_sha256
from hipart.runs import StageDir


@dataclass
class Runtime:
    device: torch.device
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def start_runtime(preference: str = "auto") -> Runtime:
    """Single process, or one process of a ``torchrun`` job (WORLD_SIZE > 1): NCCL on GPUs, gloo on CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = pick_device(preference)
    if world > 1:
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
        return Runtime(device, dist.get_rank(), dist.get_world_size())
    return Runtime(device)


def stop_runtime(rt: Runtime) -> None:
    if rt.distributed and dist.is_initialized():
        dist.destroy_process_group()


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def warmup_cosine(optimizer: torch.optim.Optimizer, warmup: int, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over ``warmup`` steps, then cosine decay to 0 at ``total`` steps."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def batches(num_items: int, batch_size: int, seed: int, epoch: int, rt: Runtime, shuffle: bool = True
            ) -> Iterator[torch.Tensor]:
    """Index batches for this process: a permutation seeded by (seed, epoch), dealt round-robin to the processes.

    Every process gets the same number of full batches (DDP steps in lock-step); a short last batch is dropped
    only when there are several processes.
    """
    if shuffle:
        g = torch.Generator().manual_seed(seed * 100003 + epoch)
        order = torch.randperm(num_items, generator=g)
    else:
        order = torch.arange(num_items)
    mine = order[rt.rank::rt.world_size]
    if rt.distributed:
        per_rank = num_items // rt.world_size
        mine = mine[: per_rank - per_rank % batch_size] if per_rank >= batch_size else mine[:per_rank]
    for start in range(0, len(mine), batch_size):
        yield mine[start:start + batch_size]


def steps_per_epoch(num_items: int, batch_size: int, rt: Runtime) -> int:
    return sum(1 for _ in batches(num_items, batch_size, 0, 0, rt, shuffle=False))


def write_metrics(path: str | Path, rows: list[dict[str, Any]]) -> None:
    with atomic_path(path) as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model


@dataclass
class Stage:
    """One stage's training, as the generic loop (:func:`fit`) needs it."""

    kind: str  # "msst", "hiarm", ...
    model: torch.nn.Module  # the core model, already on the device
    num_items: int
    epochs: int
    batch_size: int
    seed: int
    step: Callable[[torch.nn.Module, torch.Tensor], tuple[torch.Tensor, dict[str, float]]]  # (ddp model, indices)
    evaluate: Callable[[torch.nn.Module], dict[str, float]]  # main process, after each epoch
    describe: Callable[[dict[str, Any]], str]  # one log line from an epoch's metrics row
    payload: Callable[[], dict[str, Any]]  # checkpoint fields beyond the training state
    before_epoch: Callable[[torch.nn.Module], None] = lambda model: None
    epoch_extras: Callable[[torch.nn.Module], dict[str, Any]] = lambda model: {}


def provenance(manifest: Path, upstream: dict[str, Path]) -> dict[str, Any]:
    """What a checkpoint was trained on, so a later ``train all`` can refuse to mix it with other data or stages:
    the dataset manifest's sha256 and the sha256 of every upstream stage checkpoint it read."""
    return {"data_sha256": file_sha256(manifest), "upstream": {name: file_sha256(p) for name, p in upstream.items()}}


def run_stage(out: StageDir, resume: bool, force: bool, device: str,
              train: Callable[[Runtime, bool], dict[str, Any]]) -> dict[str, Any]:
    """What every stage trainer runs in: refuse to overwrite a checkpoint without --resume / --force, start the
    runtime (one process or one torchrun process), call ``train(runtime, resume)``, and always stop the runtime."""
    check_fresh(out, resume, force)
    rt = start_runtime(device)
    try:
        return train(rt, resume and out.checkpoint.exists())
    finally:
        stop_runtime(rt)


def resume_state(out: StageDir, kind: str, model: torch.nn.Module, hierarchy_hash: str, config_name: str,
                 resume: bool, log: Callable[[str], None], model_args: dict[str, Any] | None = None
                 ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(checkpoint to continue, its weights loaded into ``model``; or the finished run's summary), or (None, None)
    for a fresh start. A checkpoint of another hierarchy or model shape is refused. A finished checkpoint whose
    summary is missing is continued (zero epochs), so its evaluation and summary are written again."""
    if not resume:
        return None, None
    ckpt = load_checkpoint(out.checkpoint, kind)
    if ckpt["hierarchy_hash"] != hierarchy_hash:
        raise HipartError(f"{out.checkpoint} was trained with another hierarchy than this dataset's; use --force to "
                          "retrain")
    if ckpt["model_args"] != (model.model_args() if model_args is None else model_args):
        raise HipartError(f"{out.checkpoint} was made with other model settings than config '{config_name}'; use "
                          "the checkpoint's config or --force")
    if ckpt["finished"] and out.summary.is_file():
        log(f"{out.checkpoint}: already trained; nothing to do (--force retrains)")
        return None, out.read_summary()
    if ckpt["finished"]:
        log(f"{out.checkpoint}: trained, but {out.summary.name} is missing; evaluating it again")
    model.load_state_dict(ckpt["model"])
    if "optimizer" in ckpt:
        ckpt = {**ckpt, "optimizer": reorder_optimizer_state(model, ckpt["model"], ckpt["optimizer"])}
    return ckpt, None


def reorder_optimizer_state(model: torch.nn.Module, saved_model: dict[str, torch.Tensor],
                            optimizer_state: dict[str, Any]) -> dict[str, Any]:
    """``optimizer_state``, saved beside the model weights ``saved_model``, for ``model``'s parameters in their
    order now.

    An optimizer keeps its state by parameter position. A state dict of an earlier layout of a model (its keys
    renamed and regrouped by the model's load hooks, e.g. HiARM's before its parts were modules) lists the
    parameters in another order: each saved tensor is tagged with its position, loaded into a copy of the model
    through those same hooks, and read back to find where each parameter's state was saved.
    """
    if list(saved_model) == list(model.state_dict()):
        return optimizer_state
    tagged = {k: torch.full_like(v, float(i)) if v.is_floating_point() else v
              for i, (k, v) in enumerate(saved_model.items())}
    probe = copy.deepcopy(model)
    probe.load_state_dict(tagged)
    tags = [int(p.detach().flatten()[0]) for p in probe.parameters()]
    saved_index = [sorted(tags).index(t) for t in tags]  # the saved parameter order is the saved key order
    new_index = {old: new for new, old in enumerate(saved_index)}
    return {**optimizer_state,
            "state": {new_index[old]: value for old, value in optimizer_state["state"].items()},
            # loading pairs a group's listed ids with the optimizer's parameters by position: list them in order
            "param_groups": [{**group, "params": sorted(new_index[old] for old in group["params"])}
                             for group in optimizer_state["param_groups"]]}


def fit(stage: Stage, rt: Runtime, out: StageDir, lr: float, weight_decay: float, schedule: Callable[..., Any],
        resume_from: dict[str, Any] | None, progress: bool, log: Callable[[str], None]) -> dict[str, Any]:
    """Epoch loop shared by the stages: AdamW, per-epoch seeding (so a resumed run repeats an uninterrupted one),
    DDP when running under torchrun, a progress bar, and after every epoch (main process) evaluation, metrics.csv
    and an atomic checkpoint. ``schedule(optimizer, steps_per_epoch)`` builds the LR scheduler."""
    model = stage.model
    ddp = torch.nn.parallel.DistributedDataParallel(model, broadcast_buffers=False) if rt.distributed else model
    optimizer = torch.optim.AdamW(ddp.parameters(), lr=lr, weight_decay=weight_decay)
    per_epoch = steps_per_epoch(stage.num_items, stage.batch_size, rt)
    scheduler = schedule(optimizer, per_epoch)
    state: dict[str, Any] = {"epoch": 0, "step": 0, "metrics": []}
    if resume_from is not None:
        optimizer.load_state_dict(resume_from["optimizer"])
        scheduler.load_state_dict(resume_from["scheduler"])
        state = {k: resume_from[k] for k in ("epoch", "step", "metrics")}
    for epoch in range(state["epoch"], stage.epochs):
        seed_all(stage.seed * 1000 + epoch)
        stage.before_epoch(model)
        start, sums, count = time.perf_counter(), {}, 0
        bar = tqdm(total=per_epoch, desc=f"{stage.kind} {epoch + 1}/{stage.epochs}", leave=False,
                   disable=not (progress and rt.is_main), dynamic_ncols=True)
        for idx in batches(stage.num_items, stage.batch_size, stage.seed, epoch, rt):
            loss, terms = stage.step(ddp, idx.to(rt.device))
            if not torch.isfinite(loss):
                raise HipartError(f"{stage.kind} loss became {loss.item()} at epoch {epoch + 1}; lower the learning "
                                  "rate or check the dataset for NaNs")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            state["step"] += 1
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + v
            count += 1
            bar.update()
            bar.set_postfix(loss=f"{terms['loss']:.3f}")
        bar.close()
        state["epoch"] = epoch + 1
        if rt.is_main:
            row = {"epoch": epoch + 1, "step": state["step"], "lr": scheduler.get_last_lr()[0],
                   **{k: v / max(1, count) for k, v in sums.items()}, **stage.epoch_extras(model),
                   **{f"test_{k}": v for k, v in stage.evaluate(model).items()},
                   "seconds": round(time.perf_counter() - start, 2)}
            state["metrics"].append(row)
            write_metrics(out.metrics, state["metrics"])
            save_checkpoint(out.checkpoint, {
                "kind": stage.kind, "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), **state,
                "world_size": rt.world_size, "finished": epoch + 1 == stage.epochs, **stage.payload()})
            log(f"epoch {epoch + 1}/{stage.epochs}: " + stage.describe(row) + f" ({row['seconds']:.1f} s)")
    if rt.distributed:
        dist.barrier()  # the final checkpoint exists before any process moves on (the next stage reads it)
    return state

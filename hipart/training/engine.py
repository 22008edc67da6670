"""What every training stage shares: device and DistributedDataParallel set-up (torchrun), seeding, the warm-up +
cosine schedule, batches over in-memory tensors, atomic checkpoints and the per-epoch metrics CSV."""

from __future__ import annotations

import math
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist

from hipart.device import pick_device
from hipart.errors import HipartError
from hipart.io import atomic_path


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


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | Path, kind: str) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise HipartError(f"{path}: checkpoint not found; train the stage first (hipart train {kind})")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for truncated or foreign files
        raise HipartError(f"{path}: unreadable checkpoint ({type(exc).__name__}); retrain with --force") from None
    if not isinstance(payload, dict) or payload.get("kind") != kind:
        found = payload.get("kind") if isinstance(payload, dict) else type(payload).__name__
        raise HipartError(f"{path}: a '{found}' checkpoint, expected '{kind}'")
    return payload


def write_metrics(path: str | Path, rows: list[dict[str, Any]]) -> None:
    with atomic_path(path) as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model

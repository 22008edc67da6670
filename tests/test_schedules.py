"""Learning-rate schedules: the warm-up + cosine of MSST, HiARM and the baselines, and the lifter's step decay, at
known steps."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from hipart.config import load_config
from hipart.training.engine import warmup_cosine


def lr_after(scheduler: torch.optim.lr_scheduler.LRScheduler, optimizer: torch.optim.Optimizer, steps: int) -> float:
    for _ in range(steps):
        optimizer.step()
        scheduler.step()
    return optimizer.param_groups[0]["lr"]


@pytest.mark.parametrize("step, factor", [
    (0, 1 / 4),  # the first step trains at lr / warmup
    (1, 2 / 4),
    (3, 1.0),  # the last warm-up step reaches the full rate
    (4, 1.0),  # end of warm-up: the cosine starts at its top
    (6, 0.5 * (1 + math.cos(math.pi * 2 / 8))),
    (8, 0.5),  # half-way through the decay
    (12, 0.0),  # the end
    (20, 0.0),  # and it stays there
])
def test_warmup_cosine_known_values(step, factor):
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.2)
    scheduler = warmup_cosine(optimizer, warmup=4, total=12)
    assert lr_after(scheduler, optimizer, step) == pytest.approx(0.2 * factor, abs=1e-15)


def test_warmup_cosine_without_warm_up_starts_at_the_full_rate():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = warmup_cosine(optimizer, warmup=0, total=10)
    assert optimizer.param_groups[0]["lr"] == 1.0
    assert lr_after(scheduler, optimizer, 5) == pytest.approx(0.5, abs=1e-15)
    assert lr_after(scheduler, optimizer, 5) == pytest.approx(0.0, abs=1e-15)


@pytest.mark.slow
def test_msst_ends_its_cosine_at_zero(tiny_msst):
    # tiny preset: 2 epochs of 150 steps, 5 warm-up steps; metrics.csv holds the rate after each epoch
    out, summary = tiny_msst
    metrics = pd.read_csv(out / "metrics.csv")
    assert summary["steps"] == 300 and metrics["step"].tolist() == [150, 300]
    expected = [1e-3 * 0.5 * (1 + math.cos(math.pi * (150 - 5) / (300 - 5))), 0.0]
    assert metrics["lr"].tolist() == pytest.approx(expected, abs=1e-12)


@pytest.mark.slow
def test_lifter_rate_decays_every_decay_every_epochs(tiny_dataset, tmp_path):
    from hipart.training.lifter import train_lifter

    cfg = load_config("tiny", {"lifter": {"input": "sparse", "epochs": 5, "decay_every": 2, "lr_decay": 0.5,
                                          "lr": 0.004}})
    train_lifter(cfg, tiny_dataset, tmp_path / "lifter", None, progress=False, log=lambda m: None)
    metrics = pd.read_csv(tmp_path / "lifter" / "metrics.csv")
    assert metrics["step"].tolist() == [75, 150, 225, 300, 375]  # 4800 frames, batch 64
    # halved after epochs 2 and 4: epoch k ends at rate 0.004 * 0.5 ** (k // 2)
    assert metrics["lr"].tolist() == pytest.approx([0.004, 0.002, 0.002, 0.001, 0.001], abs=1e-15)
    ckpt = torch.load(tmp_path / "lifter" / "checkpoint.pt", weights_only=True)
    assert ckpt["scheduler"]["step_size"] == 2 * 75 and ckpt["scheduler"]["gamma"] == 0.5


@pytest.mark.slow
def test_lifter_cosine_schedule_warms_up_then_ends_at_zero(tiny_dataset, tmp_path):
    from hipart.training.lifter import train_lifter

    cfg = load_config("tiny", {"lifter": {"input": "sparse", "epochs": 3, "schedule": "cosine", "warmup_iters": 50,
                                          "lr": 0.004}})
    train_lifter(cfg, tiny_dataset, tmp_path / "lifter", None, progress=False, log=lambda m: None)
    metrics = pd.read_csv(tmp_path / "lifter" / "metrics.csv")
    assert metrics["step"].tolist() == [75, 150, 225]  # 4800 frames, batch 64
    # warm-up done after 50 steps; the cosine runs over the remaining 175 and reaches 0 at the last step
    expected = [0.004 * 0.5 * (1 + math.cos(math.pi * (s - 50) / 175)) for s in (75, 150)] + [0.0]
    assert metrics["lr"].tolist() == pytest.approx(expected, abs=1e-15)

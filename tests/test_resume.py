"""Exact --resume of HiARM, the lifter and a baseline: stopped after the first epoch's checkpoint, then resumed, each
ends bit for bit where the uninterrupted run ended (weights, optimiser and scheduler state, every metric)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
import torch

from hipart.config import load_config
from hipart.errors import HipartError


def stopped_in_epoch_2(monkeypatch, train: Callable[[], object]) -> None:
    """Run ``train()`` until the end of epoch 1, as if the user pressed Ctrl-C in epoch 2."""
    import hipart.training.engine as engine

    real = engine.batches

    def stop_in_epoch_2(num, size, seed, epoch, rt, shuffle=True):
        if epoch == 1:
            raise KeyboardInterrupt
        return real(num, size, seed, epoch, rt, shuffle)

    monkeypatch.setattr(engine, "batches", stop_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        train()
    monkeypatch.setattr(engine, "batches", real)


def interrupted_then_resumed(monkeypatch, train: Callable[[bool], object], checkpoint: Path) -> dict:
    """Run ``train(resume)`` until the end of epoch 1 (as if the user pressed Ctrl-C in epoch 2), check the state
    left behind, resume it; return the final checkpoint."""
    stopped_in_epoch_2(monkeypatch, lambda: train(False))
    left = torch.load(checkpoint, weights_only=True)
    assert left["epoch"] == 1 and not left["finished"]
    with pytest.raises(HipartError, match="pass --resume to continue it"):
        train(False)
    train(True)
    return torch.load(checkpoint, weights_only=True)


def assert_bit_identical(resumed: dict, full: dict) -> None:
    assert resumed["epoch"] == full["epoch"] and resumed["step"] == full["step"] and resumed["finished"]
    assert resumed["model"].keys() == full["model"].keys()
    for k, v in full["model"].items():
        assert torch.equal(v, resumed["model"][k]), k
    for param, state in full["optimizer"]["state"].items():
        for k, v in state.items():
            assert torch.equal(torch.as_tensor(v), torch.as_tensor(resumed["optimizer"]["state"][param][k])), (param, k)
    assert resumed["scheduler"] == full["scheduler"]
    drop_time = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert drop_time(resumed["metrics"]) == drop_time(full["metrics"])


@pytest.mark.slow
def test_hiarm_resume_repeats_the_uninterrupted_run(pipeline_run, tiny_dataset, tmp_path, monkeypatch):
    from hipart.training.hiarm import train_hiarm

    run = pipeline_run[0]
    part = tmp_path / "hiarm"
    resumed = interrupted_then_resumed(
        monkeypatch, lambda resume: train_hiarm(load_config("tiny"), tiny_dataset, run / "msst" / "checkpoint.pt",
                                                part, resume=resume, progress=False, log=lambda m: None),
        part / "checkpoint.pt")
    assert_bit_identical(resumed, torch.load(run / "hiarm" / "checkpoint.pt", weights_only=True))


@pytest.mark.slow
def test_lifter_resume_repeats_the_uninterrupted_run(pipeline_run, tiny_dataset, tmp_path, monkeypatch):
    from hipart.training.lifter import train_lifter

    cfg = load_config("tiny", {"lifter": {"input": "sparse"}})
    part = tmp_path / "lifter_sparse"
    resumed = interrupted_then_resumed(
        monkeypatch, lambda resume: train_lifter(cfg, tiny_dataset, part, None, resume=resume, progress=False,
                                                 log=lambda m: None),
        part / "checkpoint.pt")
    assert_bit_identical(resumed, torch.load(pipeline_run[0] / "lifter_sparse" / "checkpoint.pt", weights_only=True))


@pytest.mark.slow
def test_lifter_resume_with_another_schedule_is_refused(tiny_dataset, tmp_path, monkeypatch):
    from hipart.training.lifter import train_lifter

    step = load_config("tiny", {"lifter": {"input": "sparse"}})
    cosine = load_config("tiny", {"lifter": {"input": "sparse", "schedule": "cosine"}})
    stopped_in_epoch_2(monkeypatch, lambda: train_lifter(step, tiny_dataset, tmp_path / "lifter", None,
                                                         progress=False, log=lambda m: None))
    with pytest.raises(HipartError, match="trained with the step learning-rate schedule .* asks for cosine"):
        train_lifter(cosine, tiny_dataset, tmp_path / "lifter", None, resume=True, progress=False, log=lambda m: None)


@pytest.mark.slow
def test_diffusion_baseline_resume_repeats_the_uninterrupted_run(tiny_dataset, tmp_path, monkeypatch):
    from hipart.training.baselines import train_baseline

    cfg = load_config("tiny")

    def train(run: Path, resume: bool) -> object:
        return train_baseline(cfg, "diffpose", tiny_dataset, run, resume=resume, progress=False, log=lambda m: None)

    train(tmp_path / "full", False)
    resumed = interrupted_then_resumed(monkeypatch, lambda resume: train(tmp_path / "part", resume),
                                       tmp_path / "part" / "baseline_diffpose" / "checkpoint.pt")
    full = torch.load(tmp_path / "full" / "baseline_diffpose" / "checkpoint.pt", weights_only=True)
    assert full["epoch"] == 2
    assert_bit_identical(resumed, full)

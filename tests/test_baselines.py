"""Baselines: every registered method overfits a small batch, DDIM sampling is deterministic for a seed, the
temporal model is bidirectional seq2seq with exact windowing, the one-shot classifier leaves its MSST untouched,
and the registry drives `hipart train NAME` and `train all --with-baselines`."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from hipart.config import load_config
from hipart.errors import HipartError
from hipart.models.baselines import METHODS, get_method, method_settings
from hipart.models.baselines.diffpose import DiffPoseLifter, DiffPoseSettings
from hipart.models.baselines.mixste import MixSTE, MixSTESettings, sequence_windows
from hipart.training.baselines import BaselineContext
from hipart_cli.main import cli


@pytest.fixture(scope="module")
def context(pipeline_run, tiny_dataset):
    run, _ = pipeline_run
    return BaselineContext(load_config("tiny"), tiny_dataset, run)


def test_registry_lists_the_four_methods_and_rejects_unknown_settings(tmp_path):
    assert sorted(METHODS) == ["densify-gcn", "densify-oneshot", "diffpose", "mixste"]
    cfg = load_config("tiny")
    assert method_settings(cfg, "mixste").frames == 5 and method_settings(cfg, "mixste", frames=7).frames == 7
    bad = tmp_path / "bad.yaml"
    bad.write_text("base: tiny\nbaselines: {diffpose: {steps: 3}}\n")
    with pytest.raises(HipartError, match="baselines.diffpose: unknown setting"):
        method_settings(load_config(str(bad)), "diffpose")
    # train all checks every baseline's settings before it touches data or a run folder
    res = CliRunner().invoke(cli, ["train", "all", "--config", str(bad), "--with-baselines", "--data",
                                   str(tmp_path / "none"), "--out", str(tmp_path / "run")])
    assert res.exit_code == 1 and "baselines.diffpose: unknown setting(s) steps" in res.output
    assert not (tmp_path / "none").exists() and not (tmp_path / "run").exists()
    with pytest.raises(HipartError, match="unknown baseline 'gast'"):
        get_method("gast")


@pytest.mark.slow
@pytest.mark.parametrize("name, confidence", [("diffpose", False), ("mixste", False), ("densify-gcn", False),
                                              ("densify-oneshot", False), ("diffpose", True), ("mixste", True)])
def test_each_baseline_overfits_a_small_batch(name, confidence, context):
    method = get_method(name)
    settings = dataclasses.replace(method_settings(context.cfg, name), dropout=0.0,
                                   **({"confidence": True} if confidence else {}))
    torch.manual_seed(0)
    model = method.build(settings, context.info(method, settings))
    if method.prepare is not None:
        method.prepare(model, context)
    data = method.data(context, settings, "train")
    assert ("c" in data.items) == confidence  # the frames' confidence, fed only to a model that reads it
    batch = {k: v[:16] for k, v in data.items.items()}
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    losses = []
    for _ in range(60):
        torch.manual_seed(len(losses))  # the diffusion loss samples timesteps and noise
        loss, terms = method.loss(model, batch, settings)
        assert set(terms) >= {"loss"} and np.isfinite(terms["loss"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5]), losses[::10]


def test_ddim_is_deterministic_for_a_seed_and_takes_the_stated_steps():
    torch.manual_seed(0)
    s = DiffPoseSettings(hidden=32, layers=2, context_hidden=32, context_layers=1, hypotheses=3)
    model = DiffPoseLifter(s).eval()
    assert model.schedule() == [0, 12]  # 2 steps over the first 24 of 51 timesteps
    calls = []
    model.denoiser.register_forward_hook(lambda *args: calls.append(1))
    x = torch.randn(4, 17, 2) * 0.3
    a, b = model(x), model(x)
    assert torch.equal(a, b) and len(calls) == 4  # 2 steps, each on the 3 hypotheses batched together
    assert a.shape == (4, 17, 3) and torch.equal(a[:, 0], torch.zeros(4, 3))
    other = DiffPoseLifter(dataclasses.replace(s, seed=1))
    other.load_state_dict(model.state_dict())
    assert not torch.equal(other.eval()(x), a)
    with pytest.raises(ValueError, match="sample_steps"):
        DiffPoseLifter(dataclasses.replace(s, sample_steps=30))


def test_sequence_windows_cover_every_frame_once():
    start = np.array([0, 0, 0, 0, 0, 5, 5, 5])
    end = np.array([5, 5, 5, 5, 5, 8, 8, 8])
    index, valid = sequence_windows(start, end, 3)
    assert index.tolist() == [[0, 1, 2], [3, 4, 4], [5, 6, 7]]
    assert valid.tolist() == [[True] * 3, [True, True, False], [True] * 3]
    assert sorted(index[valid].tolist()) == list(range(8))


def test_overlapping_training_windows_reach_each_sequence_end():
    start = np.array([0] * 7 + [7] * 2)
    end = np.array([7] * 7 + [9] * 2)
    index, valid = sequence_windows(start, end, 3, stride=2)
    assert index.tolist() == [[0, 1, 2], [2, 3, 4], [4, 5, 6], [7, 8, 8]]
    assert valid.tolist() == [[True] * 3] * 3 + [[True, True, False]]
    index, _ = sequence_windows(start, end, 3, stride=5)
    assert index[:, 0].tolist() == [0, 5, 7]


def test_mixste_is_bidirectional_seq2seq():
    torch.manual_seed(0)
    model = MixSTE(MixSTESettings(frames=9, dim=32, depth=2, heads=2, dropout=0.0), 161).eval()
    x = torch.randn(2, 9, 161, 2) * 0.3
    out = model(x)
    assert out.shape == (2, 9, 17, 3) and torch.equal(out[..., 0, :], torch.zeros(2, 9, 3))
    x2 = x.clone()
    x2[:, -1] += 0.5
    changed = (model(x2) - out).abs().amax(dim=(0, 2, 3))
    assert (changed > 1e-4).all()  # the first frame sees the last one: no causal mask
    with pytest.raises(ValueError, match="expects"):
        model(torch.randn(1, 5, 161, 2))


@pytest.mark.slow
def test_train_command_and_train_all_with_baselines(pipeline_run, tiny_dataset, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(pipeline_run[0], run)  # the session's run stays as test_pipeline expects it
    result = CliRunner().invoke(cli, ["train", "densify-oneshot", "--config", "tiny", "--data", str(tiny_dataset),
                                      "--run", str(run), "--quiet", "--epochs", "1"])
    assert result.exit_code == 0, result.output
    folder = run / "baseline_densify-oneshot"
    table = pd.read_csv(folder / "eval.csv", index_col="action")
    assert list(table.columns) == ["x_d px", "x_f px", "frames"] and table.loc["Average", "frames"] == 960
    actions = table.drop("Average")
    assert len(actions) == 15 and (actions["frames"] == 64).all()
    np.testing.assert_allclose(table.loc["Average", ["x_d px", "x_f px"]], actions[["x_d px", "x_f px"]].mean())
    from hipart.models.msst import MSST
    from hipart.training.baselines import load_baseline

    model, _, _ = load_baseline(folder / "checkpoint.pt", "densify-oneshot")
    msst, _ = MSST.load(run / "msst" / "checkpoint.pt")
    for k, v in msst.state_dict().items():  # trained, yet the frozen MSST inside is the run's, bit for bit
        assert torch.equal(model.msst.state_dict()[k], v), k

    # --with-baselines: the 1-epoch one-shot checkpoint does not match the config (2 epochs): refused
    refused = CliRunner().invoke(cli, ["train", "all", "--config", "tiny", "--data", str(tiny_dataset), "--out",
                                       str(run), "--quiet", "--with-baselines"])
    assert refused.exit_code == 1 and "other 'baselines.densify-oneshot' settings (epochs)" in refused.output
    shutil.rmtree(folder)
    result = CliRunner().invoke(cli, ["train", "all", "--config", "tiny", "--data", str(tiny_dataset), "--out",
                                      str(run), "--quiet", "--with-baselines"])
    assert result.exit_code == 0, result.output
    summary = pd.read_csv(run / "summary.csv", index_col="action")
    assert {"MPJPE diffpose", "MPJPE mixste-f5-sparse"} <= set(summary.columns)
    for name in ("diffpose", "mixste-f5-sparse"):  # each column is the baseline's own evaluation
        own = pd.read_csv(run / f"baseline_{name}" / "eval.csv", index_col="action")
        np.testing.assert_allclose(summary[f"MPJPE {name}"], own["MPJPE"], atol=0.005)
        np.testing.assert_allclose(summary[f"P-MPJPE {name}"], own["P-MPJPE"], atol=0.005)
    dens = pd.read_csv(run / "densify_summary.csv", index_col="action")
    assert list(dens.columns) == ["x_d px densify-gcn", "x_f px densify-gcn", "x_d px densify-oneshot",
                                  "x_f px densify-oneshot"]
    for name in ("diffpose", "mixste-f5-sparse", "densify-gcn", "densify-oneshot"):
        assert (run / f"baseline_{name}" / "summary.json").is_file()

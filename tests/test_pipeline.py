"""Stage 3 and the whole pipeline: the lifter, `train all --config tiny` end to end, skipping finished stages,
and `predict` (arrays, JSON and VideoPose3D input)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from formats import write_videopose3d

from hipart.config import load_config
from hipart_cli.main import cli


def trivial_baselines(data_dir) -> pd.DataFrame:
    """MPJPE / P-MPJPE per action on the test split of two predictions that ignore the input: all zeros (every
    joint on the root) and the training split's mean root-relative pose."""
    from hipart.data.dataset import PoseDataset
    from hipart.metrics import mpjpe, p_mpjpe, per_action_table
    from hipart.skeleton import H36M_ACTIONS

    train = PoseDataset(data_dir, "train", fields=("X_s",)).arrays()["X_s"].astype(np.float64)
    test = PoseDataset(data_dir, "test", fields=("X_s",)).arrays()
    X = test["X_s"].astype(np.float64)
    X -= X[:, :1]
    mean_pose = (train - train[:, :1]).mean(axis=0)
    actions = [H36M_ACTIONS[a] for a in test["action"]]
    rows = {}
    for name, pred in (("zeros", np.zeros_like(X)), ("mean pose", np.broadcast_to(mean_pose, X.shape).copy())):
        table = per_action_table({"MPJPE": mpjpe(pred, X), "P-MPJPE": p_mpjpe(pred, X)}, actions)
        rows[name] = table.loc["Average"]
    return pd.DataFrame(rows).T


@pytest.mark.slow
def test_train_all_writes_every_stage_and_its_lifters_beat_the_trivial_baselines(pipeline_run, tiny_dataset):
    run, output = pipeline_run
    for stage in ("msst", "hiarm", "lifter_hier", "lifter_sparse", "lifter_gt-hier"):
        assert (run / stage / "checkpoint.pt").is_file() and (run / stage / "metrics.csv").is_file()
    summary = pd.read_csv(run / "summary.csv", index_col="action")
    assert list(summary.columns) == ["MPJPE hier", "P-MPJPE hier", "MPJPE sparse", "P-MPJPE sparse",
                                     "MPJPE gt-hier", "P-MPJPE gt-hier", "frames"]
    assert len(summary) == 16 and summary.loc["Average", "frames"] == 960
    assert "=== stage 2, HiARM" in output
    baseline = trivial_baselines(tiny_dataset)
    # measured with the tiny preset: zeros 445.5 / 431.1 mm, mean pose 200.9 / 184.9 mm (MPJPE / P-MPJPE)
    assert baseline.loc["zeros", "MPJPE"] > 2 * baseline.loc["mean pose", "MPJPE"]
    for mode in ("hier", "sparse", "gt-hier"):
        # each column is its lifter's own evaluation, and the average is over actions (each counts once)
        own = pd.read_csv(run / f"lifter_{mode}" / "eval.csv", index_col="action")
        np.testing.assert_allclose(summary[f"MPJPE {mode}"], own["MPJPE"], atol=0.005)
        assert own.loc["Average", "MPJPE"] == pytest.approx(own["MPJPE"].drop("Average").mean())
        # two tiny epochs reach 46-55 / 33-39 mm: required, at most 0.4 / 0.3 of the mean pose's error
        assert summary.loc["Average", f"MPJPE {mode}"] < 0.4 * baseline.loc["mean pose", "MPJPE"], mode
        assert summary.loc["Average", f"P-MPJPE {mode}"] < 0.3 * baseline.loc["mean pose", "P-MPJPE"], mode


@pytest.mark.slow
def test_rerun_skips_finished_stages_and_refuses_other_settings(pipeline_run, tiny_dataset, tmp_path):
    run, _ = pipeline_run
    stamps = {p: p.stat().st_mtime_ns for p in run.glob("*/checkpoint.pt")}
    again = CliRunner().invoke(cli, ["train", "all", "--config", "tiny", "--data", str(tiny_dataset), "--out",
                                     str(run), "--quiet"])
    assert again.exit_code == 0, again.output
    assert again.output.count("skipped") == 5
    assert {p: p.stat().st_mtime_ns for p in run.glob("*/checkpoint.pt")} == stamps
    other = tmp_path / "more_epochs.yaml"
    other.write_text("base: tiny\nname: tiny\nlifter: {epochs: 3}\n")
    refused = CliRunner().invoke(cli, ["train", "all", "--config", str(other), "--data", str(tiny_dataset),
                                       "--out", str(run), "--quiet"])
    assert refused.exit_code == 1 and "other 'lifter' settings (epochs)" in refused.output


@pytest.mark.slow
def test_train_all_with_only_the_hier_lifter_leaves_the_others_out(pipeline_run, tiny_dataset, tmp_path):
    import shutil

    from hipart.errors import HipartError
    from hipart.pipeline import train_all

    run, _ = pipeline_run
    for stage in ("msst", "hiarm", "lifter_hier"):
        shutil.copytree(run / stage, tmp_path / "run" / stage)
    lines: list[str] = []
    summary = train_all(load_config("tiny"), tiny_dataset, tmp_path / "run", progress=False, log=lines.append,
                        lifter_inputs=("hier",))
    assert sum("skipped" in line for line in lines) == 3  # nothing retrained, no other lifter trained
    assert sorted(p.name for p in (tmp_path / "run").iterdir() if p.is_dir()) == ["hiarm", "lifter_hier", "msst"]
    assert list(summary.columns) == ["MPJPE hier", "P-MPJPE hier", "frames"]
    whole = pd.read_csv(run / "summary.csv", index_col="action")
    assert summary.loc["Average", "MPJPE hier"] == pytest.approx(whole.loc["Average", "MPJPE hier"], abs=0.005)
    with pytest.raises(HipartError, match="lifter inputs"):
        train_all(load_config("tiny"), tiny_dataset, tmp_path / "run", progress=False, log=lines.append,
                  lifter_inputs=("depth",))


@pytest.mark.slow
def test_predict_round_trip_json_and_videopose3d(pipeline_run, tiny_dataset, tmp_path):
    from hipart.data.dataset import PoseDataset
    from hipart.models.lifter import Lifter
    from hipart.runs import RunLayout
    from hipart.training.inputs import split_frames
    from hipart.training.lifter import evaluate_lifter, lifter_inputs

    run, _ = pipeline_run
    a = PoseDataset(tiny_dataset, "test", fields=("x_s", "X_s"), normalize=False).arrays()
    size = a["image_size"][0]
    n = 24
    np.save(tmp_path / "kp.npy", a["x_s"][:n])
    runner = CliRunner()
    res = runner.invoke(cli, ["predict", "--run", str(run), "--input", str(tmp_path / "kp.npy"), "--out",
                              str(tmp_path / "p.npz"), "--image-size", str(int(size[0])), str(int(size[1]))])
    assert res.exit_code == 0, res.output
    pred = np.load(tmp_path / "p.npz")
    assert pred["X"].shape == (n, 17, 3) and pred["x_f"].shape == (n, 96, 2)
    # equal to the lifter applied to the cached hier inputs of the same frames (when their image size matches)
    same = np.flatnonzero((a["image_size"][:n] == size).all(axis=1))
    layout = RunLayout(run)
    data = lifter_inputs("hier", split_frames(tiny_dataset, "test"), "test", layout, layout.lifter("hier"),
                         torch.device("cpu"))
    lifter, _ = Lifter.load(layout.lifter("hier").checkpoint)
    with torch.no_grad():
        direct = lifter(data.x[same]).numpy()
    np.testing.assert_allclose(pred["X"][same], direct, atol=1e-2)
    assert evaluate_lifter(lifter, data).loc["Average", "frames"] == 960
    # JSON with an image size
    (tmp_path / "kp.json").write_text(json.dumps({"keypoints": a["x_s"][:3].tolist(),
                                                  "image_size": [int(size[0]), int(size[1])]}))
    res_json = runner.invoke(cli, ["predict", "--run", str(run), "--input", str(tmp_path / "kp.json"), "--out",
                                   str(tmp_path / "pj.npz")])
    assert res_json.exit_code == 0 and np.allclose(np.load(tmp_path / "pj.npz")["X"], pred["X"][:3], atol=1e-3)
    # VideoPose3D's 2D archive: one group per subject / action / camera
    _, p2, _, pos2d = write_videopose3d(tmp_path / "vp3d")
    res_vp = runner.invoke(cli, ["predict", "--run", str(run), "--input", str(p2), "--out", str(tmp_path / "pv.npz")])
    assert res_vp.exit_code == 0, res_vp.output
    pv = np.load(tmp_path / "pv.npz")
    assert pv["S9/Walking/2/X"].shape == (len(pos2d["S9"]["Walking"][2]), 17, 3)
    # bad input: one line, exit 1, nothing written
    (tmp_path / "bad.json").write_text(json.dumps({"keypoints": [[1, 2, 3]]}))
    bad = runner.invoke(cli, ["predict", "--run", str(run), "--input", str(tmp_path / "bad.json"), "--out",
                              str(tmp_path / "b.npz")])
    assert bad.exit_code == 1 and "expected (N, 17, 2)" in bad.output and not (tmp_path / "b.npz").exists()


@pytest.mark.slow
def test_predict_refuses_a_run_with_mixed_checkpoints(pipeline_run, tmp_path):
    import shutil

    run, _ = pipeline_run
    mixed = tmp_path / "mixed"
    shutil.copytree(run, mixed, ignore=shutil.ignore_patterns("*.pt"))
    for stage in ("msst", "hiarm", "lifter_hier"):
        shutil.copy(run / stage / "checkpoint.pt", mixed / stage / "checkpoint.pt")
    ckpt = torch.load(mixed / "lifter_hier" / "checkpoint.pt", weights_only=True)
    ckpt["hierarchy_hash"] = "f" * 64
    torch.save(ckpt, mixed / "lifter_hier" / "checkpoint.pt")
    np.save(tmp_path / "kp.npy", np.random.default_rng(0).uniform(300, 600, size=(2, 17, 2)))
    res = CliRunner().invoke(cli, ["predict", "--run", str(mixed), "--input", str(tmp_path / "kp.npy")])
    assert res.exit_code == 1 and "different hierarchies" in res.output

"""The shipped pretrained weights: what the package carries, the export that makes it (same weights, no optimiser
state, provenance kept) and `hipart predict` without --run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from hipart.config import load_config
from hipart.detect.adapter import JointAdapter
from hipart.detect.packaged import packaged_adapter_path
from hipart.errors import HipartError
from hipart.io import file_sha256
from hipart.models.hipart import HiPART
from hipart.pretrained import (INFO, MAX_BYTES, OPTIMISER_KEYS, STAGES, copy_inference_stages, describe, export,
                               packaged_run, require_packaged)
from hipart.runs import RunLayout
from hipart_cli.main import cli


def test_the_pretrained_preset_is_the_demo_preset_with_every_stage_after_msst_on_detections():
    pretrained, demo = load_config("pretrained"), load_config("demo")
    assert pretrained.name == "pretrained" and pretrained.keypoints == "detected"
    assert pretrained.msst == demo.msst and pretrained.data == demo.data and pretrained.coarsen == demo.coarsen
    assert (pretrained.hiarm.epochs, pretrained.lifter.epochs, pretrained.lifter.warmup_iters) == (9, 27, 180)
    assert pretrained.hiarm.dim == demo.hiarm.dim and pretrained.lifter.dim == demo.lifter.dim
    # occlusion in training and the detector's confidence read by every model (the shipped weights are so made)
    assert pretrained.hiarm.occlusion_augment and pretrained.lifter.occlusion_copies == 2
    assert pretrained.hiarm.confidence and pretrained.lifter.confidence and pretrained.baselines["diffpose"]["confidence"]


def test_the_package_ships_slim_pretrained_weights_under_25_mb_that_load_as_hipart():
    run = require_packaged()
    size = sum(p.stat().st_size for p in run.rglob("*") if p.is_file())
    assert size <= MAX_BYTES
    info = json.loads((run / INFO).read_text())
    assert info["stages"] == list(STAGES) and set(info["test"]) == {"true_2d", "detections"}
    assert info["test"]["detections"]["frames"] == 6000  # the demo dataset's whole test split
    layout = RunLayout(run)
    for name in STAGES:
        stage = layout.stage(name)
        ckpt = torch.load(stage.checkpoint, map_location="cpu", weights_only=True)
        assert not set(OPTIMISER_KEYS) & set(ckpt) and ckpt["finished"]
        assert stage.metrics.is_file() and stage.config.is_file() and "data" not in stage.read_summary()
    hier = layout.lifter("hier").read_summary()
    assert hier["keypoints"] == "detected"
    # the score the lifter recorded when it was trained is the one the export measured again
    assert info["test"]["detections"]["mpjpe"] == pytest.approx(hier["test"]["mpjpe"], abs=0.01)
    model = HiPART.from_run(run, "cpu", compile=False)
    assert model.lifter is not None and model.lifter.num_inputs == 17 + 48 + 96
    # trained as the preset says: HiARM and the lifter read the detector's confidence
    assert model.hiarm.cfg.confidence and model.lifter.cfg.confidence and model.reads_confidence


def test_the_shipped_weights_were_trained_with_the_packaged_joint_adapter():
    info = json.loads((packaged_run() / INFO).read_text())
    adapter = JointAdapter.load(packaged_adapter_path())
    assert adapter.provenance["source_sha256"] == info["adapter_sha256"]
    assert adapter.provenance["dataset_manifest_sha256"] == info["dataset_manifest_sha256"]


def test_describe_says_the_weights_are_synthetic_not_human36m_with_their_test_scores():
    line = describe(packaged_run())
    assert line.startswith("pretrained weights (packaged): ") and "not on Human3.6M" in line
    info = json.loads((packaged_run() / INFO).read_text())
    assert f"{info['test']['detections']['mpjpe']:.1f} mm from BlazePose detections" in line


def test_copied_inference_stages_give_the_original_runs_outputs_without_optimiser_state(pipeline_run, tmp_path):
    run, _ = pipeline_run
    dest = copy_inference_stages(run, tmp_path / "export")
    msst = torch.load(dest.msst.checkpoint, map_location="cpu", weights_only=True)
    hiarm = torch.load(dest.hiarm.checkpoint, map_location="cpu", weights_only=True)
    assert "optimizer" not in msst and "optimizer" not in hiarm
    assert hiarm["msst_sha256"] == file_sha256(dest.msst.checkpoint)  # relinked to the slimmed MSST
    assert dest.msst.checkpoint.stat().st_size < RunLayout(run).msst.checkpoint.stat().st_size
    x_s = np.random.default_rng(0).uniform(300, 700, (5, 17, 2)).astype(np.float32)
    a = HiPART.from_run(run, "cpu", compile=False)(x_s, (1000, 1000))
    b = HiPART.from_run(dest.root, "cpu", compile=False)(x_s, (1000, 1000))
    assert torch.equal(a["q_s"], b["q_s"]) and torch.equal(a["X"], b["X"])


def test_export_refuses_a_run_trained_on_true_keypoints(pipeline_run, tiny_dataset, tmp_path):
    with pytest.raises(HipartError, match="trained on true keypoints"):
        export(pipeline_run[0], tiny_dataset, tmp_path / "export")
    assert not (tmp_path / "export").exists()


def test_predict_without_run_uses_the_pretrained_weights_and_says_so(tmp_path):
    rows = np.array([[[500.0, 300.0]] * 17], np.float32)
    rows[0, :, 1] += np.linspace(0, 400, 17)  # a standing column of joints
    np.save(tmp_path / "kp.npy", rows)
    res = CliRunner().invoke(cli, ["predict", "--input", str(tmp_path / "kp.npy"), "--image-size", "1000", "1000",
                                   "--out", str(tmp_path / "pred.npz"), "--device", "cpu", "--no-compile"])
    assert res.exit_code == 0, res.output
    assert res.output.startswith("pretrained weights (packaged): ") and "not on Human3.6M" in res.output
    pred = np.load(tmp_path / "pred.npz")
    expected = HiPART.from_run(packaged_run(), "cpu", compile=False)(rows, (1000, 1000))["X"].numpy()
    np.testing.assert_allclose(pred["X"], expected, atol=1e-4)


def test_predict_without_run_or_pretrained_weights_is_a_one_line_error(tmp_path, monkeypatch):
    import hipart.pretrained as pretrained

    monkeypatch.setattr(pretrained, "packaged_run", lambda: Path(tmp_path / "none"))
    np.save(tmp_path / "kp.npy", np.zeros((1, 17, 2), np.float32) + 10)
    res = CliRunner().invoke(cli, ["predict", "--input", str(tmp_path / "kp.npy"), "--image-size", "100", "100",
                                   "--out", str(tmp_path / "pred.npz")])
    assert res.exit_code == 1 and "no pretrained weights in this install" in res.output
    assert len(res.output.strip().splitlines()) == 1 and not (tmp_path / "pred.npz").exists()

"""hipart data build / PoseDataset: fast path == full mesh, projection, resume, corruption, windows, CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import tiny_source

from hipart.coarsen.hierarchy import build_hierarchy
from hipart.config import load_config
from hipart.data import build as build_mod
from hipart.data.build import build_dataset
from hipart.data.dataset import PoseDataset, load_manifest
from hipart.data.sources import Pose2MeshSource, SyntheticSource
from hipart.errors import HipartError
from hipart.io import file_sha256
from hipart_cli.main import cli


def all_bytes(folder: Path) -> dict[str, str]:
    """sha256 of every file of a built dataset; renders and detections that other tests add beside it are not part
    of the build."""
    return {str(p.relative_to(folder)): file_sha256(p) for p in sorted(folder.rglob("*"))
            if p.is_file() and p.relative_to(folder).parts[0] not in ("images", "detections")}


# ---------------------------------------------------------------- fast path


def test_fast_path_equals_full_mesh_on_anny(anny_hierarchy, capture):
    source = SyntheticSource(anny_hierarchy, load_config("paper", {"data": {"frames_per_action": 250}}).data,
                             capture=capture)
    frames = np.array([0, 37, 120, 249])
    fast = source.world_rows("S9", "SittingDown", 2, frames, fast=True)
    full = source.world_rows("S9", "SittingDown", 2, frames, fast=False)
    assert fast.shape == full.shape == (4, 17 + 48 + 96, 3)
    assert np.abs(fast - full).max() < 1e-4
    # The sparse rows are the capture's own 17 joints and the fine rows are vertex cluster means.
    seq = capture.sequence("S9", "SittingDown", 2, frames=frames)
    np.testing.assert_allclose(fast[:, :17], capture.joints_world(seq).numpy(), atol=1e-6)
    verts = capture.vertices_world(seq).numpy()
    np.testing.assert_allclose(fast[:, 65:], anny_hierarchy.pool(verts)[0], atol=1e-4)
    # Far fewer (row, bone) pairs to skin than the mesh has.
    assert source._folded("S9").num_pairs < 1500 < 30000 < capture.body.skinning().num_pairs


def pose2mesh_source(folder, **data):
    from hipart.coarsen.sources import load_mesh_source

    cfg = load_config("tiny", {"data": {"source": "pose2mesh", "path": str(folder), **data}})
    mesh = load_mesh_source(folder)
    hier = build_hierarchy(mesh.vertices, mesh.faces, mesh.regressor, (96, 48))
    return Pose2MeshSource(hier, cfg.data), hier


def test_fast_path_equals_full_mesh_on_smpl_fixture(pose2mesh_folder):
    source, _ = pose2mesh_source(pose2mesh_folder)
    fits = [f.smpl for f in source.reader.frames([9], stride=5)][:6]
    fast = source.world_rows(fits, fast=True)
    full = source.world_rows(fits, fast=False)
    assert fast.shape == (6, 161, 3) and np.abs(fast - full).max() < 1e-4


def test_pose2mesh_fits_with_a_beta_beyond_3_take_the_mean_shape(pose2mesh_folder):
    import dataclasses

    source, _ = pose2mesh_source(pose2mesh_folder)
    fit = [f.smpl for f in source.reader.frames([9], stride=5)][0]

    def shaped(**betas: float):
        shape = np.zeros(10)
        for i, v in betas.items():
            shape[int(i[1:])] = v
        return dataclasses.replace(fit, shape=shape)

    fits = [shaped(), shaped(b0=3.5), shaped(b0=1.0, b4=-3.5), shaped(b0=3.0), shaped(b0=1.0)]
    for fast in (True, False):
        rows = source.world_rows(fits, fast=fast)
        mean = rows[0]
        np.testing.assert_allclose(rows[1], mean, rtol=0, atol=1e-9)  # beta 3.5: Pose2Mesh's mean shape
        np.testing.assert_allclose(rows[2], mean, rtol=0, atol=1e-9)  # one |beta| > 3 drops every beta, the 1.0 too
        assert np.abs(rows[3] - mean).max() > 1.0  # 3.0 is kept (the rule is |beta| > 3), and moves rows by mm
        np.testing.assert_allclose(rows[3] - mean, 3 * (rows[4] - mean), rtol=1e-6, atol=1e-6)  # linear in beta


def test_pose2mesh_build_follows_its_camera_convention(pose2mesh_folder, tmp_path):
    from hipart.body.smpl import SMPL
    from hipart.data.pose2mesh import camera_space_mesh

    source, hier = pose2mesh_source(pose2mesh_folder, sparse_from="regressor", test_stride=5)
    manifest = build_dataset(source, tmp_path / "p2m", progress=False, log=lambda m: None)
    # 12 frames per sequence, fits at 0, 5, 10: 3 frames x 4 cameras x 2 actions x 2 subactions per subject
    assert manifest["counts"] == {"train": 48, "test": 48}
    ds = PoseDataset(tmp_path / "p2m", "test", subjects=["S9"], fields=("x_f", "X_s", "X_f"), normalize=False)
    item = next(ds[i] for i in range(len(ds)) if ds[i]["camera"] == 2 and ds[i]["frame"] == 5
                and ds[i]["action"] == 1 and ds[i]["subaction"] == 2)
    frame = next(f for f in source.reader.frames([9], stride=5)
                 if (f.cam_idx, f.frame_idx, f.action_idx, f.subaction_idx) == (3, 5, 3, 2))
    # Pose2Mesh's own camera-space mesh (root-rotation trick), pooled by the hierarchy and the regressor.
    smpl = SMPL(_smpl_data(pose2mesh_folder), torch.float64)
    verts, _ = camera_space_mesh(smpl, [frame.smpl], frame.camera.R, frame.camera.t)
    verts = verts.numpy()[0]
    fine, _ = hier.pool(verts)
    np.testing.assert_allclose(item["X_f"].numpy(), fine, atol=2e-3)  # float32 storage of mm values
    np.testing.assert_allclose(item["X_s"].numpy(), hier.sparse_regressor @ verts, atol=2e-3)
    np.testing.assert_allclose(item["x_f"].numpy(), frame.camera.project(fine), atol=1e-3)
    # sparse_from="joints": X_s is the Human3.6M 3D joints in that camera.
    source_j, _ = pose2mesh_source(pose2mesh_folder, sparse_from="joints", test_stride=5)
    build_dataset(source_j, tmp_path / "p2m_joints", progress=False, log=lambda m: None)
    ds_j = PoseDataset(tmp_path / "p2m_joints", "test", subjects=["S9"], fields=("X_s",), normalize=False)
    pos = next(i for i in range(len(ds_j)) if (ds_j.meta["camera"][i], ds_j.meta["frame"][i], ds_j.meta["action"][i],
                                               ds_j.meta["subaction"][i]) == (2, 5, 1, 2))
    np.testing.assert_allclose(ds_j[pos]["X_s"].numpy(), frame.joints_cam, atol=2e-3)
    assert "3D joints" in load_manifest(tmp_path / "p2m_joints")["settings"]["source"]["sparse_from"]


def _smpl_data(folder):
    from hipart.body.smpl_model import load_smpl_model

    return load_smpl_model(folder / "smpl" / "SMPL_NEUTRAL.pkl")


# ---------------------------------------------------------------- projection and storage


def test_projection_matches_a_hand_computed_point(tiny_dataset, tiny_capture):
    from hipart.skeleton import H36M_ACTIONS

    manifest = load_manifest(tiny_dataset)
    ds = PoseDataset(tiny_dataset, "test", subjects=["S11"], fields=("x_s", "X_s"), normalize=False)
    i = 7
    item = ds[i]
    cam = manifest["settings"]["source"]["cameras"]["S11"][int(item["camera"])]
    X, Y, Z = item["X_s"][10].double().tolist()  # the head
    fx, fy = cam["f"]
    cx, cy = cam["c"]
    expected = [fx * X / Z + cx, fy * Y / Z + cy]  # pinhole: the tiny preset projects without distortion
    np.testing.assert_allclose(item["x_s"][10].numpy(), expected, atol=1e-3)
    # and the camera-space point is R·X_w + t of the capture's world joint
    seq = tiny_capture.sequence("S11", H36M_ACTIONS[int(item["action"])], int(item["subaction"]),
                                frames=np.array([int(item["frame"])]))
    head_world = tiny_capture.joints_world(seq)[0, 10].double().numpy()
    np.testing.assert_allclose(np.asarray(cam["R"]) @ head_world + np.asarray(cam["t"]), [X, Y, Z], atol=1e-3)


def test_manifest_counts_fields_and_statistics(tiny_dataset):
    m = load_manifest(tiny_dataset)
    # tiny preset: 8 frames, train stride 1, test stride 2; 4 cameras, 15 actions, 2 subactions
    assert m["counts"] == {"train": 5 * 15 * 2 * 8 * 4, "test": 2 * 15 * 2 * 4 * 4}
    assert m["levels"] == {"s": 17, "d": 48, "f": 96} and m["fields"]["x_f"]["shape"] == [96, 2]
    assert len(m["shards"]) == 210 and sum(r["frames"] for r in m["shards"]) == 4800 + 960
    stats = m["normalization"]["train_statistics"]
    ds = PoseDataset(tiny_dataset, "train", fields=("x_d",))
    a = ds.arrays()
    np.testing.assert_allclose(stats["x_d"]["mean"], a["x_d"].mean(0), atol=1e-5)
    np.testing.assert_allclose(stats["x_d"]["std"], a["x_d"].std(0), atol=1e-4)
    assert not (tiny_dataset / "journal.jsonl").exists() and not (tiny_dataset / "build.json").exists()


def test_normalization_round_trip(tiny_dataset):
    from hipart.camera import denormalize_pixels

    raw = PoseDataset(tiny_dataset, "train", subjects=["S5"], fields=("x_f",), normalize=False).arrays()
    norm = PoseDataset(tiny_dataset, "train", subjects=["S5"], fields=("x_f",)).arrays()
    np.testing.assert_allclose(denormalize_pixels(norm["x_f"], norm["image_size"]), raw["x_f"], atol=1e-3)
    assert np.abs(norm["x_f"]).max() < 1.0


# ---------------------------------------------------------------- resume and corruption


class Crash(RuntimeError):
    pass


def build_quietly(source, out, **kwargs):
    logs: list[str] = []
    build_dataset(source, out, progress=False, log=logs.append, **kwargs)
    return logs


def crash_build(source, out, monkeypatch, at_shard: int) -> None:
    """Run a build that dies while writing its `at_shard`-th shard."""
    real_write, calls = build_mod.write_shard, {"n": 0}

    def crashing_write(path, arrays):
        calls["n"] += 1
        if calls["n"] == at_shard:
            raise Crash("simulated crash while writing a shard")
        return real_write(path, arrays)

    monkeypatch.setattr(build_mod, "write_shard", crashing_write)
    with pytest.raises(Crash):
        build_quietly(source, out)
    monkeypatch.setattr(build_mod, "write_shard", real_write)


def test_resume_after_a_crash_gives_the_same_bytes(tmp_path, tiny_dataset, anny_hierarchy, tiny_capture, monkeypatch):
    out = tmp_path / "resumed"
    crash_build(tiny_source(anny_hierarchy, tiny_capture), out, monkeypatch, at_shard=60)
    assert not (out / "manifest.json").exists()
    with pytest.raises(HipartError, match="interrupted"):
        PoseDataset(out)
    # what a killed process leaves: a half-written journal line and a stray temporary shard
    with open(out / "journal.jsonl", "a") as fh:
        fh.write('{"name": "train/S7_Walking_1.000", "fi')
    (out / "train" / ".S7_Walking_1.000.abc.tmp.npz").write_bytes(b"PK\x03\x04 half")
    logs = build_quietly(tiny_source(anny_hierarchy, tiny_capture), out)
    assert "59 finished shard(s) verified" in logs[0]
    assert all_bytes(out) == all_bytes(tiny_dataset)


@pytest.mark.slow  # trains nothing, but two builds in fresh processes take about 25 s
def test_a_build_killed_with_sigkill_resumes_to_the_same_bytes(tmp_path, tiny_dataset):
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "hipart_cli.main", "data", "build", "--config", "tiny", "--hierarchy",
           str(tiny_dataset / "hierarchy.npz"), "--out", str(out), "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    build = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    journal, deadline = out / "journal.jsonl", time.monotonic() + 120
    while not (journal.is_file() and journal.read_text().count("\n") >= 20):  # 20 of the 210 shards written
        assert build.poll() is None and time.monotonic() < deadline, build.communicate()[0].decode()[-2000:]
        time.sleep(0.02)
    os.kill(build.pid, signal.SIGKILL)
    assert build.wait(timeout=60) == -signal.SIGKILL
    assert not (out / "manifest.json").exists(), "the build finished before it was killed"
    finished = journal.read_text().count("\n")
    assert 20 <= finished < 210
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert f"{finished} finished shard(s) verified" in again.stdout
    assert all_bytes(out) == all_bytes(tiny_dataset)  # shards, manifest and hierarchy, byte for byte


def test_resume_refuses_other_settings(tmp_path, anny_hierarchy, tiny_capture, monkeypatch):
    out = tmp_path / "ds"
    crash_build(tiny_source(anny_hierarchy, tiny_capture), out, monkeypatch, at_shard=1)
    assert not out.exists()  # a build that dies before its first shard leaves nothing behind
    crash_build(tiny_source(anny_hierarchy, tiny_capture), out, monkeypatch, at_shard=3)
    assert len(list(out.glob("*/*.npz"))) == 2 and (out / "build.json").is_file()
    with pytest.raises(HipartError, match="unfinished build with other settings \\(data.train_stride\\)"):
        build_quietly(tiny_source(anny_hierarchy, tiny_capture, train_stride=2), out)


def test_corrupted_shard_is_detected_and_repaired(tmp_path, tiny_dataset, anny_hierarchy, tiny_capture):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(tiny_dataset, out)
    shard = out / "test" / "S9_Eating_1.000.npz"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside the array data
    shard.write_bytes(bytes(data))
    with pytest.raises(HipartError, match="S9_Eating_1.000.npz: checksum mismatch"):
        PoseDataset(out, "test")
    PoseDataset(out, "train")  # the other split's shards are fine
    result = CliRunner().invoke(cli, ["data", "info", str(out), "--verify"])
    assert result.exit_code == 1 and "checksum mismatch" in result.output
    logs = build_quietly(tiny_source(anny_hierarchy, tiny_capture), out)
    assert "1 shard(s) missing or corrupted" in logs[0]
    assert all_bytes(out) == all_bytes(tiny_dataset)


def test_parallel_workers_write_the_same_bytes(tmp_path, tiny_dataset, anny_hierarchy, tiny_capture):
    out = tmp_path / "parallel"
    build_quietly(tiny_source(anny_hierarchy, tiny_capture), out, workers=2)
    assert all_bytes(out) == all_bytes(tiny_dataset)


# ---------------------------------------------------------------- PoseDataset


def test_windows_filters_and_hierarchy_check(tiny_dataset, anny_hierarchy):
    ds = PoseDataset(tiny_dataset, "train", subjects=["S1", 5], actions=["Walking"], window=5)
    assert len(ds) == 2 * 2 * 4 * 8 and ds.num_sequences == 2 * 2 * 4
    first = ds[0]
    assert first["x_s"].shape == (5, 17, 2) and first["x_f"].shape == (5, 96, 2) and first["X_s"].shape == (5, 17, 3)
    assert int(first["frame"]) == 0
    # edges repeat the sequence's first frame; the centre is the item's own frame
    single = PoseDataset(tiny_dataset, "train", subjects=["S1", 5], actions=["Walking"])
    assert torch.equal(first["x_s"][0], first["x_s"][2]) and torch.equal(first["x_s"][2], single[0]["x_s"])
    mid = ds[4]
    assert torch.equal(mid["x_s"][0], single[2]["x_s"]) and torch.equal(mid["x_s"][4], single[6]["x_s"])
    assert set(ds.meta["subject"].tolist()) == {1, 5} and set(ds.meta["action"].tolist()) == {12}
    assert ds.hierarchy_hash == anny_hierarchy.content_hash()
    PoseDataset(tiny_dataset, hierarchy_hash=anny_hierarchy.content_hash())
    with pytest.raises(HipartError, match="was built with hierarchy .* but the model uses"):
        PoseDataset(tiny_dataset, hierarchy_hash="0" * 64)
    with pytest.raises(HipartError, match="unknown subject"):
        PoseDataset(tiny_dataset, subjects=["S2"])
    with pytest.raises(HipartError, match="unknown action"):
        PoseDataset(tiny_dataset, actions=["Juggling"])
    with pytest.raises(HipartError, match="positive odd"):
        PoseDataset(tiny_dataset, window=4)
    loader = torch.utils.data.DataLoader(ds, batch_size=8)
    batch = next(iter(loader))
    assert batch["x_d"].shape == (8, 5, 48, 2)


# ---------------------------------------------------------------- CLI


def test_cli_build_and_info(tmp_path):
    out = tmp_path / "cli"
    runner = CliRunner()
    args = ["data", "build", "--config", "tiny", "--frames-per-action", "4", "--test-stride", "4", "--out", str(out),
            "--quiet"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "frames: 2400 train, 240 test; 210 shards" in result.output
    again = runner.invoke(cli, args)
    assert again.exit_code == 0 and "already complete" in again.output
    info = runner.invoke(cli, ["data", "info", str(out), "--verify"])
    assert info.exit_code == 0 and "verified: all 210 shards" in info.output
    assert "S11" in info.output and "Walking" in info.output
    other = runner.invoke(cli, args[:-1] + ["--train-stride", "2"])
    assert other.exit_code == 1 and "other settings (data.train_stride)" in other.output


def test_cli_bad_inputs_are_one_line_errors(tmp_path, pose2mesh_folder):
    runner = CliRunner()
    missing = runner.invoke(cli, ["data", "build", "--source", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")])
    assert missing.exit_code == 1 and "not a folder" in missing.output
    assert not (tmp_path / "o").exists()
    # a hierarchy made for the SMPL fixture mesh cannot pool the Anny body
    smpl_hier = tmp_path / "smpl_hier.npz"
    assert runner.invoke(cli, ["coarsen", "--mesh", str(pose2mesh_folder), "--out", str(smpl_hier)]).exit_code == 0
    wrong = runner.invoke(cli, ["data", "build", "--config", "tiny", "--hierarchy", str(smpl_hier),
                                "--out", str(tmp_path / "w"), "--quiet"])
    assert wrong.exit_code == 1 and "made for another mesh" in wrong.output
    assert not (tmp_path / "w" / "manifest.json").exists()
    info = runner.invoke(cli, ["data", "info", str(tmp_path / "nothing")])
    assert info.exit_code == 1 and "no such dataset folder" in info.output
    stride = runner.invoke(cli, ["data", "build", "--config", "tiny", "--train-stride", "0"])
    assert stride.exit_code == 1 and "data.train_stride" in stride.output

"""The real-data route, command by command, on a fixture in Pose2Mesh's published layout: coarsen the SMPL
template, build the dataset, `train all --data` on whatever the dataset holds, and a run folder made on another
hierarchy refused before any work, with advice that works when followed."""

from __future__ import annotations

import stat

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from hipart.data.dataset import load_manifest
from hipart_cli.main import cli


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.mark.slow
def test_a_pose2mesh_build_trains_through_train_all_and_another_hierarchy_is_refused(pose2mesh_folder, tmp_path):
    hier, data, run = tmp_path / "hierarchy" / "smpl.npz", tmp_path / "data" / "h36m", tmp_path / "runs" / "h36m"
    res = invoke("coarsen", "--mesh", str(pose2mesh_folder), "--out", str(hier))
    assert res.exit_code == 0 and "balance: vertices" in res.output, res.output  # SMPL keeps Pose2Mesh's scheme
    res = invoke("data", "build", "--config", "tiny", "--source", str(pose2mesh_folder), "--hierarchy", str(hier),
                 "--out", str(data), "--quiet")
    assert res.exit_code == 0, res.output
    # The config's data / coarsen sections describe the default capture; the dataset folder is the truth.
    res = invoke("train", "all", "--config", "tiny", "--data", str(data), "--out", str(run), "--quiet")
    assert res.exit_code == 0, res.output
    assert "used as it is" in res.output and "coarsening" not in res.output  # nothing rebuilt, no template coarsened
    manifest = load_manifest(data)
    assert manifest["settings"]["source"]["kind"] == "pose2mesh"
    for stage in ("msst", "hiarm", "lifter_hier"):
        ckpt = torch.load(run / stage / "checkpoint.pt", weights_only=True)
        assert ckpt["hierarchy_hash"] == manifest["hierarchy"]["hash"]
    summary = pd.read_csv(run / "summary.csv", index_col="action")
    assert summary.loc["Average", "frames"] == manifest["counts"]["test"]
    # files get the permissions of any file the user creates (umask 022 here: 0644), not mkstemp's 0600
    assert stat.S_IMODE((run / "summary.csv").stat().st_mode) == 0o644
    assert stat.S_IMODE(hier.stat().st_mode) == 0o644

    # A dataset pooled with another hierarchy (the same SMPL template, area-balanced) cannot continue this run.
    other_hier, other = tmp_path / "hierarchy" / "smpl_area.npz", tmp_path / "data" / "h36m_area"
    assert invoke("coarsen", "--mesh", str(pose2mesh_folder), "--balance", "area", "--out", str(other_hier)).exit_code == 0
    res = invoke("data", "build", "--config", "tiny", "--source", str(pose2mesh_folder), "--hierarchy",
                 str(other_hier), "--out", str(other), "--quiet")
    assert res.exit_code == 0, res.output
    before = {p: p.stat().st_mtime_ns for p in run.rglob("*")}
    refused = invoke("train", "all", "--config", "tiny", "--data", str(other), "--out", str(run), "--quiet")
    assert refused.exit_code == 1 and f"hierarchy of {other}" in refused.output
    assert "--force" in refused.output and "another --out" in refused.output
    assert {p: p.stat().st_mtime_ns for p in run.rglob("*")} == before  # refused before any work
    # the advice works: another --out, or --force
    res = invoke("train", "all", "--config", "tiny", "--data", str(other), "--out", str(tmp_path / "runs" / "area"),
                 "--quiet")
    assert res.exit_code == 0, res.output
    res = invoke("train", "all", "--config", "tiny", "--data", str(other), "--out", str(run), "--quiet", "--force")
    assert res.exit_code == 0, res.output
    assert torch.load(run / "msst" / "checkpoint.pt", weights_only=True)["hierarchy_hash"] == \
        load_manifest(other)["hierarchy"]["hash"]


def test_footage_indexes_a_pose2mesh_build_in_h36m_videos_frame_by_frame(pose2mesh_folder, tmp_path):
    pytest.importorskip("cv2")
    from hipart.camera import load_h36m_cameras
    from hipart.render.dataset import ImageSet
    from hipart.render.store import write_images

    data = tmp_path / "h36m"
    res = invoke("data", "build", "--config", "tiny", "--source", str(pose2mesh_folder), "--out", str(data),
                 "--quiet", "--train-stride", "5", "--test-stride", "5")
    assert res.exit_code == 0, res.output
    ids = [c.id for c in load_h36m_cameras()["S1"]]
    # Human3.6M's own inconsistent take names: "<action>" / "<action> 1" / "<action> 2"
    takes = {("S1", "Directions"): ("Directions", "Directions 1"), ("S1", "Discussion"): ("Discussion 1", "Discussion 2"),
             ("S9", "Directions"): ("Directions", "Directions 1"), ("S9", "Discussion"): ("Discussion", "Discussion 1")}
    for (subject, _), names in takes.items():
        for take, name in enumerate(names):
            for cam in ids[:3]:  # the fourth camera's videos are missing: its rows get no image
                frames = [np.full((48, 64, 3), 10 * k + 120 * take, np.uint8) for k in range(12)]
                write_images(tmp_path / "videos" / subject / "Videos" / f"{name}.{cam}.mp4", frames, "mp4")
    res = invoke("data", "footage", "--data", str(data), "--videos", str(tmp_path / "videos"))
    assert res.exit_code == 0, res.output
    assert "rows have no video" in res.output
    images = ImageSet(data)
    rows = PoseDatasetRows(data)
    for unit in images.units:
        record = images.record(unit)
        take = record["subaction"] - 1
        values = [int(round(f.mean())) for f in images.unit_images(unit)]
        expected = [10 * rows.frame_of(unit["split"], r) + 120 * take for r in record["rows"]]
        assert np.allclose(values, expected, atol=10), (unit["file"], values, expected)  # mp4v is lossy
    index = images.index("test")
    assert set(index["camera"]) == {0, 1, 2} and len(index["row"]) == 3 * 2 * 2 * 3  # 3 cams, 2 actions, 2 takes, 3 fits
    assert (index["box"][:, 2] > index["box"][:, 0]).all()
    bad = invoke("data", "footage", "--data", str(data), "--videos", str(tmp_path / "nowhere"))
    assert bad.exit_code == 1 and "no such folder" in bad.output


class PoseDatasetRows:
    """Frame numbers of a dataset's rows, per split."""

    def __init__(self, data):
        from hipart.data.dataset import PoseDataset

        self.frames = {s: PoseDataset(data, s, fields=("x_s",), verify=False).meta["frame"] for s in ("train", "test")}

    def frame_of(self, split, row):
        return int(self.frames[split][row])

"""The packaged BlazePose -> Human3.6M joint adapter: it ships in the package resources, maps hand-made landmarks to
the joints its documented linear form gives, is refitted by `hipart detect --data D --package-adapter`, and is the
last choice after `--adapter` and the run's dataset's own adapter (the output says which one was used)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from hipart.detect import packaged
from hipart.detect.adapter import JointAdapter, normalizing_frame
from hipart.detect.base import Detections
from hipart.detect.blazepose import BLAZEPOSE_NAMES
from hipart.detect.packaged import (PACKAGED_FILE, choose_adapter, load_packaged_adapter, package_adapter,
                                    packaged_adapter_path)
from hipart.errors import HipartError
from hipart.io import file_sha256
from hipart.predict import run_adapter
from hipart.skeleton import H36M
from hipart_cli.main import cli

# A person standing face on, symmetric about x = 500 px (their left is the image's right): BlazePose landmark pairs
# (left, right) -> (half width px, y px); the nose (0) on the axis at y = 200.
PAIRS = {(1, 4): (8, 190), (2, 5): (14, 190), (3, 6): (20, 190), (7, 8): (30, 195), (9, 10): (10, 220),
         (11, 12): (60, 270), (13, 14): (70, 370), (15, 16): (75, 460), (17, 18): (80, 480), (19, 20): (76, 485),
         (21, 22): (68, 475), (23, 24): (35, 480), (25, 26): (38, 620), (27, 28): (40, 760), (29, 30): (38, 775),
         (31, 32): (50, 782)}
AXIS = 500.0
MIDLINE = ("Pelvis", "Spine", "Thorax", "Nose", "Head")
MIRROR = {l: r for l, r in PAIRS} | {r: l for l, r in PAIRS}


def standing_pose() -> np.ndarray:
    kp = np.zeros((33, 2))
    kp[0] = (AXIS, 200)
    for (left, right), (dx, y) in PAIRS.items():
        kp[left], kp[right] = (AXIS + dx, y), (AXIS - dx, y)
    return kp


def detections(kp: np.ndarray) -> Detections:
    n = len(kp)
    return Detections(kp.astype(np.float32), np.full((n, 33), 0.9, np.float32), np.ones(n, bool), BLAZEPOSE_NAMES)


def mean_of_primaries(fitted_on: int = 0) -> JointAdapter:
    """Each H36M joint at the mean of its primary landmarks (no fitting): a recognisable stand-in adapter."""
    sources, primary = JointAdapter.layout("blazepose")
    weights = []
    for src, p in zip(sources, primary):
        W = np.zeros((2, 2 * len(src) + 1))
        W[0, 0:2 * p:2] = W[1, 1:2 * p:2] = 1.0 / p
        weights.append(W)
    return JointAdapter("blazepose", sources, primary, tuple(weights), fitted_on=fitted_on)


def detected_dataset(root: Path, adapter: JointAdapter | None = None, *, fitted_on: int = 120) -> Path:
    """A dataset folder as far as the adapter's lookup and packaging read it: its manifest and, with ``adapter``,
    finished detections holding that adapter."""
    root.mkdir(parents=True)
    (root / "manifest.json").write_text(json.dumps({"note": "frames of the embedded synthetic Anny capture, not "
                                                            "Human3.6M", "hierarchy": {"hash": "abc"}}))
    if adapter is not None:
        det = root / "detections" / "blazepose"
        adapter.save(det / "adapter.npz")
        (det / "manifest.json").write_text(json.dumps({
            "dataset_manifest_sha256": file_sha256(root / "manifest.json"),
            "settings": {"fingerprint": "f00"},
            "adapter": {"file": "adapter.npz", "source": "fitted on the train split's clean renders",
                        "fitted_on_frames": fitted_on},
            "splits": {"train": {"mean_error_px": 5.0, "pck_0.05": 0.97},
                       "test": {"mean_error_px": 6.5, "pck_0.05": 0.96}}}))
    return root


# ------------------------------------------------------------------------------------------ the packaged adapter


def test_the_packaged_adapter_ships_in_the_package_resources_with_its_provenance():
    path = packaged_adapter_path()
    assert path == Path(str(resources.files("hipart.resources").joinpath(PACKAGED_FILE))) and path.is_file()
    assert path.stat().st_size < 64_000  # a few kB: 17 small matrices
    adapter = load_packaged_adapter()
    p = adapter.provenance
    assert adapter.detector == "blazepose" and adapter.fitted_on == p["fitted_on_frames"] >= 1000
    assert p["dataset_name"].startswith("default-") and p["synthetic"] is True
    assert 0 < p["mean_error_px"]["test"] < 15 and p["command"].endswith("--package-adapter")
    sources, primary = JointAdapter.layout("blazepose")
    assert adapter.sources == sources and adapter.primary == primary
    assert [w.shape for w in adapter.weights] == [(2, 2 * len(s) + 1) for s in sources]


def test_the_packaged_adapter_maps_hand_made_landmarks_by_its_documented_linear_form():
    adapter = load_packaged_adapter()
    kp = standing_pose()
    joints = adapter.apply(detections(kp[None])).keypoints[0].astype(np.float64)
    # the module's form, written out: origin the hips' midpoint, unit the landmarks' box diagonal,
    # y_j = W_j @ [z_s1, z_s2, ..., 1] per joint, back to px
    centre = (kp[23] + kp[24]) / 2
    scale = np.linalg.norm(kp.max(axis=0) - kp.min(axis=0))
    assert np.allclose(normalizing_frame(kp[None])[0][0], centre) and np.isclose(normalizing_frame(kp[None])[1][0],
                                                                                  scale)
    for j, name in enumerate(H36M.names):
        z = (kp[list(adapter.sources[j])] - centre) / scale
        expected = adapter.weights[j] @ np.append(z.ravel(), 1.0) * scale + centre
        np.testing.assert_allclose(joints[j], expected, atol=1e-3, err_msg=name)


def test_the_packaged_adapter_puts_the_joints_where_a_symmetric_pose_has_them():
    adapter = load_packaged_adapter()
    kp = standing_pose()
    joints = dict(zip(H36M.names, adapter.apply(detections(kp[None])).keypoints[0].astype(np.float64)))
    # tolerance from the adapter itself: its mean joint error on the default data's test renders (6.2 px there,
    # where people are about as large as this 613 px pose)
    tol = adapter.provenance["mean_error_px"]["test"]
    hips = (kp[23] + kp[24]) / 2
    assert np.linalg.norm(joints["Pelvis"] - hips) < tol  # the pelvis lands between the hips
    for name in MIDLINE:
        assert abs(joints[name][0] - AXIS) < tol, name  # on the body's axis of symmetry
    # top to bottom along the axis: head, nose, thorax, spine, pelvis
    assert joints["Head"][1] < joints["Nose"][1] < joints["Thorax"][1] < joints["Spine"][1] < joints["Pelvis"][1]
    assert abs(joints["Thorax"][1] - kp[11, 1]) < tol  # the thorax at the shoulders' height
    # each limb joint near its own landmark (the rig's joints sit a little off BlazePose's: within 4 % of the pose's
    # 613 px size) and never nearer the mirrored one, i.e. left and right are not swapped
    size = np.linalg.norm(kp.max(axis=0) - kp.min(axis=0))
    for j, name in enumerate(H36M.names):
        if adapter.primary[j] != 1 or name == "Pelvis":
            continue
        own = adapter.sources[j][0]
        d_own, d_mirror = (np.linalg.norm(joints[name] - kp[i]) for i in (own, MIRROR[own]))
        assert d_own < 0.04 * size and d_own < d_mirror, (name, d_own, d_mirror)


# ------------------------------------------------------------------------------------------------ packaging


def test_package_adapter_copies_a_datasets_fitted_adapter_with_its_provenance(tmp_path):
    data = detected_dataset(tmp_path / "default-mini", mean_of_primaries(fitted_on=120))
    dest, adapter = package_adapter(data, dest=tmp_path / "res" / PACKAGED_FILE)
    again = JointAdapter.load(dest)
    source = JointAdapter.load(data / "detections" / "blazepose" / "adapter.npz")
    assert all(np.array_equal(a, b) for a, b in zip(again.weights, source.weights)) and again.fitted_on == 120
    p = again.provenance
    assert p == adapter.provenance and p["dataset"] == data.as_posix() and p["synthetic"] is True
    assert p["fitted_on_frames"] == 120 and p["mean_error_px"] == {"train": 5.0, "test": 6.5}
    assert p["source_sha256"] == file_sha256(data / "detections" / "blazepose" / "adapter.npz")
    assert not list(dest.parent.glob(".*tmp*"))  # written through a temporary file


def test_package_adapter_refuses_unfinished_or_stale_detections(tmp_path):
    with pytest.raises(HipartError, match="no finished detections"):
        package_adapter(detected_dataset(tmp_path / "bare"), dest=tmp_path / "a.npz")
    stale = detected_dataset(tmp_path / "stale", mean_of_primaries(120))
    (stale / "manifest.json").write_text('{"note": "rebuilt"}')
    with pytest.raises(HipartError, match="another build"):
        package_adapter(stale, dest=tmp_path / "a.npz")
    assert not (tmp_path / "a.npz").exists()


def test_detect_package_adapter_writes_the_packaged_file_and_says_what_it_holds(tmp_path, monkeypatch):
    target = tmp_path / "resources" / PACKAGED_FILE
    monkeypatch.setattr(packaged, "packaged_adapter_path", lambda: target)
    data = detected_dataset(tmp_path / "default-mini", mean_of_primaries(fitted_on=120))
    res = CliRunner().invoke(cli, ["detect", "--data", str(data), "--package-adapter"])
    assert res.exit_code == 0, res.output
    assert f"packaged joint adapter: {target}" in res.output and "fitted on 120 renders of default-mini" in res.output
    assert JointAdapter.load(target).provenance["dataset_name"] == "default-mini"
    both = CliRunner().invoke(cli, ["detect", "--data", str(data), "--package-adapter", "--adapter", str(target)])
    assert both.exit_code == 1 and "neither --videos nor --adapter" in both.output


# --------------------------------------------------------------------------------------------- lookup order


def test_a_datasets_own_adapter_wins_over_the_packaged_one(tmp_path):
    data = detected_dataset(tmp_path / "d", mean_of_primaries(fitted_on=7))
    said: list[str] = []
    choice = choose_adapter(None, data, log=said.append)
    own = data / "detections" / "blazepose" / "adapter.npz"
    assert choice.kind == "dataset" and choice.path == own and choice.adapter.fitted_on == 7
    assert said == [f"joint adapter: {own} (fitted on this run's dataset)"]
    # and an explicit --adapter wins over both
    given = mean_of_primaries(fitted_on=3).save(tmp_path / "given.npz")
    choice = choose_adapter(given, data, log=said.append)
    assert choice.kind == "given" and choice.adapter.fitted_on == 3 and said[-1].endswith("(given with --adapter)")


def test_without_a_dataset_adapter_the_packaged_one_is_used_and_the_output_says_so(tmp_path):
    said: list[str] = []
    for data in (detected_dataset(tmp_path / "no-detections"), None):
        choice = choose_adapter(None, data, log=said.append)
        assert choice.kind == "packaged" and choice.path == packaged_adapter_path()
        assert choice.adapter.fitted_on == load_packaged_adapter().fitted_on
    assert len(said) == 2 and said[0] == said[1]
    assert said[0].startswith("joint adapter: packaged (fitted on ") and "synthetic" in said[0]
    assert "not Human3.6M" in said[0]


def test_predict_takes_the_runs_dataset_adapter_else_the_packaged_one(tmp_path):
    data = detected_dataset(tmp_path / "d")
    run = tmp_path / "run"
    (run / "msst").mkdir(parents=True)
    (run / "msst" / "summary.json").write_text(json.dumps({"data": str(data)}))
    assert run_adapter(run, None).kind == "packaged"
    mean_of_primaries(fitted_on=9).save(data / "detections" / "blazepose" / "adapter.npz")
    assert run_adapter(run, None).kind == "dataset" and run_adapter(run, None).adapter.fitted_on == 9
    assert run_adapter(tmp_path / "not-a-run", None).kind == "packaged"  # no recorded dataset: the packaged one


def test_a_corrupt_dataset_adapter_is_an_error_naming_it_not_skipped(tmp_path):
    data = detected_dataset(tmp_path / "d")
    bad = data / "detections" / "blazepose" / "adapter.npz"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(HipartError, match=f"{bad}: not a hipart joint adapter"):
        choose_adapter(None, data)


def test_no_adapter_anywhere_is_a_one_line_error_saying_how_to_fit_one(tmp_path, monkeypatch):
    monkeypatch.setattr(packaged, "packaged_adapter_path", lambda: tmp_path / "absent.npz")
    data = detected_dataset(tmp_path / "d")
    with pytest.raises(HipartError, match="no joint adapter for this run's dataset, and no packaged one") as err:
        choose_adapter(None, data)
    assert "hipart detect --data" in str(err.value) and "\n" not in str(err.value)


def test_bench_3dpw_says_which_adapter_once_its_arguments_are_checked(tmp_path, monkeypatch):
    pytest.importorskip("mediapipe")  # --twod auto is the detector only with mediapipe installed
    import hipart.bench.pw3d as pw3d

    data = detected_dataset(tmp_path / "d")
    run = tmp_path / "run"
    (run / "msst").mkdir(parents=True)
    (run / "config.yaml").write_text("name: fake\n")
    (run / "msst" / "summary.json").write_text(json.dumps({"data": str(data)}))
    given: list[Path] = []

    def fake_run_3dpw(bench, root, out, smpl_dir, regressor, occ_list, twod, adapter, *rest):
        given.append(adapter)
        if not Path(root).is_dir():
            raise HipartError(f"{root}: no such folder")
        rest[-1]("3DPW: 2 test sequences")  # run_3dpw's first line, once its arguments are checked
        raise HipartError("stop here")

    monkeypatch.setattr(pw3d, "run_3dpw", fake_run_3dpw)
    args = ["bench", "3dpw", "--run", str(run), "--out", str(tmp_path / "res"), "--device", "cpu"]
    bad = CliRunner().invoke(cli, args + ["--root", str(tmp_path / "nowhere")])
    assert bad.output.strip().splitlines() == [f"Error: {tmp_path / 'nowhere'}: no such folder"]  # one line
    res = CliRunner().invoke(cli, args + ["--root", str(tmp_path)])
    lines = res.output.strip().splitlines()
    assert lines[0].startswith("joint adapter: packaged (") and lines[1] == "3DPW: 2 test sequences"
    assert sum(line.startswith("joint adapter:") for line in lines) == 1
    assert given == [packaged_adapter_path()] * 2
    # the dataset's own adapter once it has one
    own = mean_of_primaries().save(data / "detections" / "blazepose" / "adapter.npz")
    res = CliRunner().invoke(cli, args + ["--root", str(tmp_path)])
    assert res.output.splitlines()[0] == f"joint adapter: {own} (fitted on this run's dataset)" and given[-1] == own

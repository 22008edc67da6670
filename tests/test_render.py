"""Rendering the default capture: the renderer's camera is hipart's camera, images agree with the rows, storage,
shards, resume, and the errors a user can meet."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

pytest.importorskip("pyvista")

from PIL import Image, ImageDraw  # noqa: E402

from hipart.data.dataset import PoseDataset, load_manifest  # noqa: E402
from hipart.errors import HipartError  # noqa: E402
from hipart.io import file_sha256  # noqa: E402
from hipart.render.dataset import ImageSet, plan_units, render_dataset  # noqa: E402
from hipart.render.frames import dataset_capture  # noqa: E402
from hipart.render.jobs import Shard, parse_shard  # noqa: E402
from hipart.render.offscreen import OffscreenRenderer, marker_colour, projection_matrix, view_matrix  # noqa: E402
from hipart.render.store import read_image, read_images, write_images  # noqa: E402

SELECTION = {"subjects": ["S9"], "actions": ["Walking"]}  # 8 sequences x 4 frames of the tiny test split


@pytest.fixture(scope="module")
def capture_frames(tiny_dataset, anny_body):
    return dataset_capture(load_manifest(tiny_dataset), anny_body)


@pytest.fixture(scope="module")
def renderer(capture_frames):
    return OffscreenRenderer(capture_frames.body.faces, capture_frames.body.num_vertices)


@pytest.fixture(scope="module")
def rendered(tiny_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("images") / "one"
    render_dataset(tiny_dataset, out, "test", progress=False, log=lambda m: None, **SELECTION)
    return out


def test_projection_and_view_matrices_reproduce_the_pinhole_camera(capture_frames):
    """OpenGL clip -> window coordinates of the matrices equal camera.project, principal point and y-down included."""
    rng = np.random.default_rng(0)
    for camera in capture_frames.cameras["S9"]:
        X = camera.camera_to_world(np.c_[rng.uniform(-800, 800, (50, 2)), rng.uniform(2000, 7000, 50)])
        clip = (projection_matrix(camera) @ view_matrix(camera) @ np.c_[X, np.ones(50)].T).T
        ndc = clip[:, :2] / clip[:, 3:]
        window = (ndc + 1) / 2 * [camera.width, camera.height]  # OpenGL: origin bottom-left, pixel centres at +0.5
        pixel = np.c_[window[:, 0] - 0.5, camera.height - window[:, 1] - 0.5]
        expected = np.asarray(camera.project(camera.world_to_camera(X), distort=False))
        np.testing.assert_allclose(pixel, expected, atol=1e-6)


def test_rendered_joints_land_within_a_pixel_of_their_dataset_rows(tiny_dataset, capture_frames, renderer):
    """Markers drawn at the re-posed joints, found in the image by colour, sit on the rows' x_s (all 4 cameras)."""
    units = plan_units(tiny_dataset, "test", **SELECTION)
    x_rows = PoseDataset(tiny_dataset, "test", fields=("x_s",), normalize=False).arrays()["x_s"]
    renderer.set_scene(capture_frames.scene("S9"))
    errors = []
    for unit in units[:4]:  # subaction 1, cameras 0-3 (sizes 1000x1002 and 1000x1000, four principal points)
        posed = capture_frames.pose(unit.subject, unit.action, unit.subaction, np.asarray(unit.frames[:2]))
        camera = capture_frames.cameras[unit.subject][unit.camera]
        for i in range(2):
            image = renderer.render(posed.vertices[i], camera, capture_frames.colours("S9"), markers=posed.joints[i])
            assert image.shape == (camera.height, camera.width, 3)
            colours = marker_colour(np.arange(17))
            for j in range(17):
                mask = (image == colours[j]).all(axis=2)
                others = [k for k in range(17) if k != j]
                near = np.linalg.norm(x_rows[unit.rows[i]][others] - x_rows[unit.rows[i]][j], axis=1).min()
                if near < 2 * renderer.marker_px:  # overlapping markers hide each other's pixels
                    continue
                rows, cols = np.nonzero(mask)
                assert len(rows) >= renderer.marker_px ** 2 * 0.5
                errors.append([cols.mean(), rows.mean()] - x_rows[unit.rows[i]][j])
    errors = np.asarray(errors)
    assert len(errors) >= 8 * 12
    assert np.linalg.norm(errors, axis=1).max() <= 1.0
    # A 6-px square's pixel centroid is off by up to half a pixel per axis, but without bias: a half-pixel
    # convention slip or a principal point error would shift the mean.
    assert np.abs(errors.mean(axis=0)).max() < 0.15, errors.mean(axis=0)


def test_body_silhouette_matches_the_mesh_projected_by_hipart(tiny_dataset, capture_frames, renderer):
    posed = capture_frames.pose("S9", "Walking", 1, np.array([0]))
    camera = capture_frames.cameras["S9"][2]
    renderer.set_scene(None)  # unlit face colours on black
    white = np.full((len(renderer.faces), 3), 255, np.uint8)
    mask = renderer.render(posed.vertices[0], camera, white).max(axis=2) > 0
    uv = np.asarray(camera.project(camera.world_to_camera(posed.vertices[0]), distort=False))
    canvas = Image.new("L", (camera.width, camera.height), 0)
    draw = ImageDraw.Draw(canvas)
    for tri in uv[renderer.faces]:
        draw.polygon([tuple(p) for p in tri], fill=255)
    projected = np.asarray(canvas) > 0
    iou = (mask & projected).sum() / (mask | projected).sum()
    assert iou > 0.95, iou
    centroid = lambda m: np.array(np.nonzero(m)[::-1]).mean(axis=1)  # noqa: E731
    assert np.linalg.norm(centroid(mask) - centroid(projected)) < 1.0  # measured 0.3-0.6 px


def test_render_writes_an_index_from_every_image_to_its_row(tiny_dataset, rendered):
    images = ImageSet(tiny_dataset, rendered, verify=True)
    index = images.index("test")
    assert images.manifest["counts"] == {"test": 32}
    ds = PoseDataset(tiny_dataset, "test", fields=("x_s",), normalize=False)
    for key in ("subject", "action", "subaction", "camera", "frame"):
        np.testing.assert_array_equal(index[key], ds.meta[key][index["row"]])
    first = images.units[int(index["unit"][5])]
    frames = read_images(rendered / first["file"])
    assert len(frames) == first["frames"] == 4
    assert frames[0].shape in ((1002, 1000, 3), (1000, 1000, 3))
    x = ds.arrays()["x_s"][index["row"]]
    inside = (x >= index["box"][:, None, :2] - 1) & (x <= index["box"][:, None, 2:] + 1)
    assert inside.all()  # every joint lies within the person's box


def test_two_shards_then_merge_equal_one_run(tiny_dataset, rendered, tmp_path):
    out = tmp_path / "sharded"
    assert render_dataset(tiny_dataset, out, "test", Shard(1, 2), progress=False, log=lambda m: None,
                          **SELECTION) is None  # the other shard's sequences are missing: no manifest yet
    assert not (out / "manifest.json").exists()
    render_dataset(tiny_dataset, out, "test", Shard(2, 2), progress=False, log=lambda m: None, **SELECTION)
    one = json.loads((rendered / "manifest.json").read_text())
    two = json.loads((out / "manifest.json").read_text())
    assert [(u["file"], u["sha256"]) for u in one["units"]] == [(u["file"], u["sha256"]) for u in two["units"]]
    assert file_sha256(rendered / "index_test.npz") == file_sha256(out / "index_test.npz")


def test_rerun_skips_finished_work_and_redoes_only_a_damaged_file(tiny_dataset, rendered, tmp_path):
    logs: list[str] = []
    render_dataset(tiny_dataset, rendered, "test", progress=False, log=logs.append, **SELECTION)
    assert "nothing to do" in logs[-1]
    victim = rendered / "test" / "S9_Walking_2.cam3.mp4"
    good = victim.read_bytes()
    victim.write_bytes(good[:100])  # a crash mid-write or a damaged copy
    logs.clear()
    render_dataset(tiny_dataset, rendered, "test", progress=False, log=logs.append, **SELECTION)
    assert "7 of 8 sequence(s) already rendered" in logs[0]
    assert victim.read_bytes() == good


def test_other_settings_in_the_same_folder_are_refused(tiny_dataset, rendered):
    with pytest.raises(HipartError, match="other settings.*--force"):
        render_dataset(tiny_dataset, rendered, "test", fmt="jpeg", progress=False, log=lambda m: None, **SELECTION)


def test_distorted_or_non_default_datasets_are_refused(tiny_dataset):
    manifest = load_manifest(tiny_dataset)
    manifest["settings"]["data"]["distortion"] = True
    with pytest.raises(HipartError, match="distortion.*--no-distortion"):
        dataset_capture(manifest)
    manifest["settings"]["source"]["kind"] = "pose2mesh"
    with pytest.raises(HipartError, match="only datasets of the embedded default capture"):
        dataset_capture(manifest)


def test_jpeg_and_mp4_sequences_round_trip(tmp_path):
    yy, xx = np.mgrid[0:96, 0:128]
    base = np.stack([xx * 2, yy * 2, 128 + 0 * xx], axis=-1).astype(np.uint8)  # smooth ramps, like walls and floor
    frames = []
    for k in range(5):
        frame = base.copy()
        frame[30:60, 20 + 4 * k:50 + 4 * k] = (200, 60, 40)  # a moving block
        frames.append(frame)
    for fmt, tolerance in (("jpeg", 3.0), ("mp4", 6.0)):
        path = write_images(tmp_path / f"seq.{fmt}", frames, fmt, quality=95)
        back = read_images(path)
        assert len(back) == 5 and back[0].shape == (96, 128, 3)
        assert np.abs(np.stack(back).astype(int) - np.stack(frames)).mean() < tolerance
        again = write_images(tmp_path / f"again.{fmt}", frames, fmt, quality=95)
        assert file_sha256(again) == file_sha256(path)  # deterministic bytes: shards merge exactly


def test_unreadable_image_is_reported_in_one_line(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(HipartError, match="broken.jpg: unreadable image"):
        read_image(bad)


@pytest.mark.parametrize("text", ["3/2", "0/4", "1-2", "a/b", "2"])
def test_wrong_shard_is_refused(text):
    with pytest.raises(HipartError, match="--shard"):
        parse_shard(text)


def test_cli_reports_a_wrong_shard_as_an_error_line(tiny_dataset):
    from click.testing import CliRunner

    from hipart_cli.main import cli

    result = CliRunner().invoke(cli, ["data", "render", "--data", str(tiny_dataset), "--shard", "5/4"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].startswith("Error: --shard 5/4")


def test_missing_extra_gives_a_one_line_install_hint(monkeypatch):
    from hipart.render import offscreen

    monkeypatch.setitem(sys.modules, "pyvista", None)
    with pytest.raises(HipartError) as err:
        offscreen.import_vtk()
    assert "pip install -e '.[images]'" in str(err.value) and "\n" not in str(err.value)

"""``hipart bench 3dpw``: 3DPW's ground truth as Pose2Mesh makes it, the 2D inputs (detector on rendered images,
the pickles' COCO-18, the truth's projection), the 14-joint scores per sequence, the OCC subset, and bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from formats import (GENDER_SCALE, make_3dpw_scene_sequence, write_3dpw_images, write_3dpw_sequence,
                     write_human_smpl_models)
from hipart.bench.pw3d import (ALL_FRAMES, EVAL_JOINTS, OPENPOSE_18, BoxTarget, TrackInputs, crop_boxes,
                               detect_track, evaluate, fill_missing, frame_errors, load_frames, openpose_to_h36m,
                               read_occ_list, segments, sequence_table)
from hipart.body.smpl import SMPL
from hipart.body.smpl_model import load_smpl_model
from hipart.camera import Camera
from hipart.data.pw3d import PW3DTruth, find_sequences, load_3dpw_sequence, sequence_files
from hipart.detect.blazepose import BlazePose
from hipart.errors import HipartError
from hipart.render.frames import CaptureFrames
from hipart.render.offscreen import OffscreenRenderer
from hipart.render.scene import lab_scene
from hipart.skeleton import H36M
from test_packaged_adapter import mean_of_primaries  # noqa: E402

# name: (split, (width, height), actors' x (m), genders)
SCENES = {"downtown_walking_00": ("test", (960, 540), (-1.0, 1.0), ("m", "f")),
          "flat_guitar_01": ("test", (540, 960), (0.0,), ("f",)),
          "courtyard_backpack_00": ("validation", (540, 960), (0.2,), ("m",))}
RENDERED = ("downtown_walking_00", "flat_guitar_01")
EMPTY_FRAME = ("flat_guitar_01", 3)  # rendered without the person: the detector finds nobody there
FRAMES = 6
MEAN_POSE = np.stack([np.zeros(17), np.linspace(-1, 1, 17)], axis=1) * 100  # a stand-in training mean pose, px


def smpl_joints_fn(models: dict[str, Path]):
    layers = {g: SMPL(load_smpl_model(p), dtype=torch.float64) for g, p in models.items() if g != "regressor"}

    def joints(gender, betas, poses, trans):
        out = layers[gender](betas=torch.as_tensor(betas)[None].expand(len(poses), -1), pose=torch.as_tensor(poses),
                             trans=torch.as_tensor(trans))
        return out.joints.numpy()
    return joints


@pytest.fixture(scope="module")
def pw3d_root(tmp_path_factory) -> Path:
    """A 3DPW root in the published layout: SMPL models + regressor, three sequences (two test, one validation);
    one actor of one test frame has campose_valid False, one is moved out of the image, one frame has a missing
    wrist and one no 2D in the pickle."""
    root = tmp_path_factory.mktemp("3dpw") / "3DPW"
    models = write_human_smpl_models(root / "smpl")
    joints = smpl_joints_fn(models)
    for i, (name, (split, size, xs, genders)) in enumerate(SCENES.items()):
        seq = make_3dpw_scene_sequence(name, size, xs, genders, joints, FRAMES, seed=i)
        if name == "downtown_walking_00":
            seq["campose_valid"][0][1] = False
            seq["poses2d"][1][2, 2, 4] = 0.0  # actor 1, frame 2: RWrist (COCO-18 index 4) not detected
            seq["poses2d"][1][4] = 0.0  # actor 1, frame 4: nothing detected
        if name == "courtyard_backpack_00":
            seq["trans"][0][5, 0] = 40.0  # 40 m to the side: outside the image
        write_3dpw_sequence(root / "sequenceFiles" / split / f"{name}.pkl", seq)
    return root


def render_scene(root: Path, anny_body, capture) -> None:
    """imageFiles/ for the rendered sequences: an Anny body per actor, its pelvis at the actor's SMPL pelvis."""
    frames = CaptureFrames(capture)
    subjects = ("S9", "S11")
    posed = {s: frames.pose(s, "Walking", 1, np.arange(FRAMES)) for s in subjects}
    V = anny_body.num_vertices
    renderers = {}
    for name in RENDERED:
        seq = load_3dpw_sequence(root / "sequenceFiles" / "test" / f"{name}.pkl")
        A = seq.num_actors
        if A not in renderers:
            renderers[A] = OffscreenRenderer(np.concatenate([anny_body.faces + a * V for a in range(A)]), A * V)
            renderers[A].set_scene(lab_scene(np.zeros(3)))
        colours = np.concatenate([frames.colours(subjects[a]) for a in range(A)])
        w, h = (int(round(2 * c)) for c in seq.cam_intrinsics[:2, 2])
        images = []
        for k in range(FRAMES):
            verts = []
            for a in range(A):
                p = posed[subjects[a]]
                v = p.vertices[k] - p.joints[k, 0] + seq.trans[a][k] * 1000
                if (name, k) == EMPTY_FRAME:
                    v = v + [0, -20000, 0]  # behind the camera
                verts.append(v)
            M, K = seq.cam_poses[k], seq.cam_intrinsics
            cam = Camera(R=M[:3, :3], t=M[:3, 3] * 1000, f=K[[0, 1], [0, 1]], c=K[:2, 2], width=w, height=h)
            images.append(renderers[A].render(np.concatenate(verts), cam, colours))
        write_3dpw_images(root, name, images)
    for r in renderers.values():
        r.close()


@pytest.fixture(scope="module")
def rendered_root(pw3d_root, anny_body, tiny_capture, tmp_path_factory) -> Path:
    pytest.importorskip("pyvista")
    root = tmp_path_factory.mktemp("3dpw_images") / "3DPW"
    shutil.copytree(pw3d_root, root)
    render_scene(root, anny_body, tiny_capture)
    return root


@pytest.fixture(scope="module")
def truth(pw3d_root) -> PW3DTruth:
    return PW3DTruth.from_folder(pw3d_root / "smpl")


def selection(root: Path) -> dict[str, tuple[str, Path]]:
    """The test split's sequences, as the benchmark selects them."""
    return {f.stem: ("test", f) for f in sequence_files(root, "test")}


# ---------------------------------------------------------------- ground truth


def test_ground_truth_is_the_gendered_smpl_mesh_in_camera_space_regressed_to_h36m(pw3d_root, truth):
    """Recomputed by hand: the female actor posed with the female model in world metres, moved by each frame's
    cam_poses, regressed with the (17, V) regressor, in mm; and the pelvis (rigid points around the root) at trans."""
    seq = load_3dpw_sequence(pw3d_root / "sequenceFiles" / "test" / "downtown_walking_00.pkl")
    frames = np.arange(FRAMES)
    got = truth.camera_joints(seq, 1, frames)
    female = SMPL(load_smpl_model(pw3d_root / "smpl" / "basicModel_f_lbs_10_207_0_v1.0.0.pkl"), dtype=torch.float64)
    verts = female(betas=torch.as_tensor(seq.betas[1])[None].expand(FRAMES, -1), pose=torch.as_tensor(seq.poses[1]),
                   trans=torch.as_tensor(seq.trans[1])).vertices.numpy()
    R, t = seq.cam_poses[:, :3, :3], seq.cam_poses[:, :3, 3]
    cam = (np.einsum("nij,nvj->nvi", R, verts) + t[:, None]) * 1000
    reg = np.load(pw3d_root / "smpl" / "J_regressor_h36m_correct.npy")
    np.testing.assert_allclose(got, np.einsum("jv,nvc->njc", reg, cam), atol=1e-9)
    data = load_smpl_model(pw3d_root / "smpl" / "basicModel_f_lbs_10_207_0_v1.0.0.pkl")
    rest_pelvis = data.J_regressor[0] @ (data.v_template + data.shapedirs @ seq.betas[1])  # the root pivot
    pelvis_world = seq.trans[1] + rest_pelvis  # the pelvis points are rigid around the root joint
    np.testing.assert_allclose(got[:, 0], (np.einsum("nij,nj->ni", R, pelvis_world) + t) * 1000, atol=1e-9)
    male_view = truth.camera_joints(seq, 0, frames)  # actor 0 is male: a longer body than the female model
    head_to_ankle = lambda j: np.linalg.norm(j[:, 10] - j[:, 3], axis=-1)  # noqa: E731
    assert head_to_ankle(got).mean() / head_to_ankle(male_view).mean() == pytest.approx(
        GENDER_SCALE["female"] / GENDER_SCALE["male"], rel=0.05)


def test_tracks_leave_out_invalid_camera_poses_and_frames_outside_the_image(pw3d_root, truth):
    walk = load_3dpw_sequence(pw3d_root / "sequenceFiles" / "test" / "downtown_walking_00.pkl")
    a0, a1 = truth.tracks(walk, "test", (960, 540))
    assert a0.frames.tolist() == [0, 2, 3, 4, 5] and (a0.campose_invalid, a0.outside_image) == (1, 0)
    assert a1.frames.tolist() == list(range(FRAMES)) and (a1.campose_invalid, a1.outside_image) == (0, 0)
    K = walk.cam_intrinsics
    np.testing.assert_allclose(a1.joints_2d, a1.joints[..., :2] / a1.joints[..., 2:] * K[0, 0] + K[:2, 2])
    back = load_3dpw_sequence(pw3d_root / "sequenceFiles" / "validation" / "courtyard_backpack_00.pkl")
    (b,) = truth.tracks(back, "validation", (540, 960))
    assert b.frames.tolist() == [0, 1, 2, 3, 4] and b.outside_image == 1
    (short,) = truth.tracks(back, "validation", (540, 960), max_frames=2)
    assert short.frames.tolist() == [0, 1]


# ---------------------------------------------------------------- scores


def test_the_fourteen_joints_leave_out_pelvis_spine_and_nose():
    assert len(EVAL_JOINTS) == 14
    assert {H36M.names[j] for j in set(range(17)) - set(EVAL_JOINTS)} == {"Pelvis", "Spine", "Nose"}
    truth = np.random.default_rng(0).normal(scale=300, size=(3, 17, 3))
    pred = truth.copy()
    pred[:, [H36M.index("Spine"), H36M.index("Nose")]] += 500.0  # not scored
    pred[:, H36M.index("LWrist"), 0] += 28.0  # 28 mm on one of 14 joints: 2 mm MPJPE
    mp, _ = frame_errors(pred, truth)
    np.testing.assert_allclose(mp, 2.0)
    shifted = truth + [10.0, -20.0, 5.0]  # a translation disappears with the pelvis alignment
    np.testing.assert_allclose(frame_errors(shifted, truth)[0], 0, atol=1e-9)


def test_pa_mpjpe_of_a_rotated_scaled_copy_is_zero_while_mpjpe_is_the_hand_computed_offset():
    truth = np.random.default_rng(1).normal(scale=300, size=(4, 17, 3))
    a = 0.3
    R = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rel = truth - truth[:, :1]
    pred = 1.2 * rel @ R.T + 77.0
    mp, pa = frame_errors(pred, truth)
    g = rel[:, list(EVAL_JOINTS)]
    expected = np.linalg.norm(1.2 * g @ R.T - g, axis=-1).mean(axis=1)
    np.testing.assert_allclose(mp, expected, rtol=1e-9)
    np.testing.assert_allclose(pa, 0, atol=1e-6)


def test_sequence_rows_are_the_means_of_their_frames_and_the_last_row_of_all_frames():
    table = sequence_table({"A": np.array([1.0, 3.0, 10.0]), "B": np.array([2.0, 2.0, 5.0])},
                           np.array(["s2", "s2", "s1"], dtype=object))
    assert table.index.tolist() == ["s1", "s2", ALL_FRAMES]
    np.testing.assert_allclose(table["A"], [10.0, 2.0, 14.0 / 3])
    np.testing.assert_allclose(table["B"], [5.0, 2.0, 3.0])


def test_segments_split_a_track_where_frames_were_left_out():
    start, end = segments(np.array([0, 2, 3, 4, 7]))
    assert start.tolist() == [0, 1, 1, 1, 4] and end.tolist() == [1, 4, 4, 4, 5]


# ---------------------------------------------------------------- 2D inputs and frames


def test_projected_truth_and_a_truthful_method_score_zero_per_sequence(pw3d_root, truth):
    frames = load_frames(pw3d_root, truth, selection(pw3d_root), "gt", MEAN_POSE)
    f = frames.frames
    assert len(frames) == 5 + 6 + 6 and not f.held.any()
    # a stand-in method that returns the truth (float32, as the frames hold it), and one off by a translation
    preds = {"truthful": f.X_s - f.X_s[:, :1], "offset": f.X_s + [0.0, 0.0, 30.0]}
    scores = evaluate(preds, frames, ["downtown_walking_00", "flat_guitar_01"])
    np.testing.assert_allclose(scores.summary["MPJPE"], 0, atol=1e-4)
    np.testing.assert_allclose(scores.summary["PA-MPJPE"], 0, atol=1e-3)
    mp = scores.tables["3dpw_mpjpe"][0]
    assert mp.index.tolist() == ["downtown_walking_00", "flat_guitar_01", ALL_FRAMES]
    # the observed 2D is the projection of the 3D, at each sequence's own image size
    xyz = f.X_s
    K = load_3dpw_sequence(pw3d_root / "sequenceFiles" / "test" / "flat_guitar_01.pkl").cam_intrinsics
    guitar = frames.sequence == "flat_guitar_01"
    np.testing.assert_allclose(f.x_s[guitar], xyz[guitar, :, :2] / xyz[guitar, :, 2:] * K[0, 0] + K[:2, 2],
                               rtol=1e-5)
    assert f.image_size[guitar].tolist() == [[540, 960]] * 6
    assert f.start.tolist()[:5] == [0, 1, 1, 1, 1]  # actor 0 of the walk lacks frame 1: two runs


def test_box_normalization_puts_every_pose_on_the_training_box(pw3d_root, truth):
    target = BoxTarget(np.array([500.0, 480.0]), 320.0, np.array([1000.0, 1000.0]))
    frames = load_frames(pw3d_root, truth, selection(pw3d_root), "gt", MEAN_POSE, target)
    x = frames.frames.x_s.astype(np.float64)
    lo, hi = x.min(axis=1), x.max(axis=1)
    np.testing.assert_allclose((lo + hi) / 2, np.tile(target.centre, (len(x), 1)), atol=1e-3)
    np.testing.assert_allclose((hi - lo).max(axis=1), 320.0, rtol=1e-5)
    assert (frames.frames.image_size == [1000, 1000]).all()
    plain = load_frames(pw3d_root, truth, selection(pw3d_root), "gt", MEAN_POSE)
    # a similarity: the pose's shape is kept (ratios of distances)
    d = lambda p: np.linalg.norm(p[:, 13] - p[:, 16], axis=-1) / np.linalg.norm(p[:, 3] - p[:, 6], axis=-1)  # noqa
    np.testing.assert_allclose(d(x), d(plain.frames.x_s.astype(np.float64)), rtol=1e-4)


def test_coco18_maps_to_h36m_and_a_joint_is_missing_when_any_of_its_keypoints_is():
    xy = np.random.default_rng(2).uniform(0, 1000, size=(2, 18, 2))
    poses = np.concatenate([xy, np.ones((2, 18, 1))], axis=2)
    poses[1, OPENPOSE_18.index("LHip"), 2] = 0.0
    got = openpose_to_h36m(poses)
    k = OPENPOSE_18.index
    np.testing.assert_allclose(got.x[0, H36M.index("Pelvis")], (xy[0, k("RHip")] + xy[0, k("LHip")]) / 2)
    np.testing.assert_allclose(got.x[0, H36M.index("Thorax")], xy[0, k("Neck")])
    nose, neck = xy[0, k("Nose")], xy[0, k("Neck")]
    np.testing.assert_allclose(got.x[0, H36M.index("Head")], nose + (nose - neck) / 2)
    np.testing.assert_allclose(got.x[0, H36M.index("RWrist")], xy[0, k("RWrist")])
    assert got.present[0].all()
    missing = {H36M.names[j] for j in np.flatnonzero(~got.present[1])}
    assert missing == {"Pelvis", "Spine", "LHip"}


def test_pickle_2d_fills_missing_joints_from_the_nearest_frame_and_counts_them(pw3d_root, truth):
    frames = load_frames(pw3d_root, truth, selection(pw3d_root), "pickle", MEAN_POSE)
    counts = frames.counts
    assert counts.loc["downtown_walking_00", "no 2D (held)"] == 1
    assert counts.loc["downtown_walking_00", "joints filled"] == 1
    assert counts.loc["downtown_walking_00", "campose_valid False"] == 1
    assert counts.loc["flat_guitar_01", ["no 2D (held)", "joints filled", "mean pose"]].tolist() == [0, 0, 0]
    walk1 = np.flatnonzero(frames.sequence == "downtown_walking_00")[5:]  # actor 1, frames 0..5
    x = frames.frames.x_s[walk1]
    np.testing.assert_array_equal(x[4], x[3])  # no 2D in frame 4: the earlier of frames 3 and 5
    rw = H36M.index("RWrist")
    np.testing.assert_array_equal(x[2, rw], x[1, rw])  # the missing wrist of frame 2 from frame 1
    assert frames.frames.held[walk1].tolist() == [False, False, True, False, True, False]


def test_a_track_that_never_sees_a_joint_gets_the_mean_pose_in_its_box():
    joints_2d = np.array([[[0.0, 0.0]] * 16 + [[100.0, 200.0]]] * 2)
    raw = TrackInputs(np.full((2, 17, 2), np.nan), np.zeros((2, 17), bool))
    filled = fill_missing(raw, joints_2d, MEAN_POSE)
    lo, hi = filled.x.min(axis=1), filled.x.max(axis=1)
    np.testing.assert_allclose((lo + hi) / 2, [[50.0, 100.0]] * 2)
    np.testing.assert_allclose((hi - lo).max(axis=1), [200.0, 200.0])
    assert filled.no_person.all() and filled.mean_pose.all() and not filled.partial.any()


def test_occ_list_selects_named_sequences_and_all_takes_of_a_name_across_splits(pw3d_root, truth, tmp_path):
    occ_file = tmp_path / "occ.txt"
    occ_file.write_text("# 3DPW-OCC\nflat_guitar\n\ncourtyard_backpack_00.pkl\n")
    occ = find_sequences(pw3d_root, read_occ_list(occ_file))
    assert {k: v[0] for k, v in occ.items()} == {"courtyard_backpack_00": "validation", "flat_guitar_01": "test"}
    frames = load_frames(pw3d_root, truth, {**selection(pw3d_root), **occ}, "gt", MEAN_POSE)
    truthful = {"m": frames.frames.X_s + 0.0}
    truthful["m"][frames.sequence == "flat_guitar_01", H36M.index("LKnee"), 1] += 14.0  # 1 mm on flat_guitar
    scores = evaluate(truthful, frames, ["downtown_walking_00", "flat_guitar_01"], sorted(occ))
    omp = scores.tables["3dpw_occ_mpjpe"][0]
    assert omp.index.tolist() == ["courtyard_backpack_00", "flat_guitar_01", ALL_FRAMES]
    np.testing.assert_allclose(omp["m"], [0.0, 1.0, 6 / 11], atol=1e-6)  # 6 of 5 + 6 OCC frames are off by 1 mm
    np.testing.assert_allclose(scores.summary.loc["m", "MPJPE"], 6 / 17, atol=1e-6)
    with pytest.raises(HipartError, match="no sequence named office_phoneCall"):
        find_sequences(pw3d_root, ["office_phoneCall"])


# ---------------------------------------------------------------- the detector on rendered images


def test_crops_are_squares_around_the_joints_clipped_to_the_image():
    joints = np.array([[[100.0, 200.0], [140.0, 300.0]]])
    np.testing.assert_array_equal(crop_boxes(joints, (1000, 1000), 1.2), [[60, 190, 180, 310]])
    np.testing.assert_array_equal(crop_boxes(joints - 100, (1000, 1000), 1.2), [[0, 90, 80, 210]])


def test_the_detector_finds_each_actor_in_its_crop_and_an_empty_frame_is_held(rendered_root, truth, tmp_path):
    pytest.importorskip("mediapipe")
    detector = BlazePose()
    cache = tmp_path / "cache"
    frames = load_frames(rendered_root, truth, selection(rendered_root), "detector", MEAN_POSE,
                         detector=detector, adapter=mean_of_primaries(), cache=cache)
    counts = frames.counts
    assert counts.loc["flat_guitar_01", "no 2D (held)"] == 1  # the frame rendered without the person
    assert counts.loc["downtown_walking_00", "no 2D (held)"] == 0
    f = frames.frames
    guitar = np.flatnonzero(frames.sequence == "flat_guitar_01")
    assert f.held[guitar].tolist() == [False, False, False, True, False, False]
    np.testing.assert_array_equal(f.x_s[guitar[3]], f.x_s[guitar[2]])
    # every detection sits on its own actor: the detected hips' midpoint near that actor's projected pelvis
    gt_pelvis = f.x_s_true[:, 0]
    hips = (f.x_s[:, H36M.index("LHip")] + f.x_s[:, H36M.index("RHip")]) / 2
    lo, hi = f.x_s_true.min(axis=1), f.x_s_true.max(axis=1)
    assert (np.linalg.norm(hips - gt_pelvis, axis=1) < 0.15 * (hi - lo).max(axis=1)).all()
    walk = frames.sequence == "downtown_walking_00"
    assert np.abs(hips[walk][:5, 0] - hips[walk][5:10, 0]).min() > 200  # two actors 2 m apart, two people found
    # a second run reads the cache and detects nothing
    calls = []
    detector.detect = lambda images: calls.append(len(images))
    track = truth.tracks(load_3dpw_sequence(rendered_root / "sequenceFiles" / "test" / "flat_guitar_01.pkl"),
                         "test", (540, 960))[0]
    cached = detect_track(rendered_root, track, detector, cache)
    assert calls == [] and cached.detected.tolist() == [True, True, True, False, True, True]


# ---------------------------------------------------------------- bad input


def test_bad_input_gives_one_line_errors(pw3d_root, tmp_path):
    with pytest.raises(HipartError, match="no such folder; point at the 3DPW root"):
        sequence_files(tmp_path / "nowhere", "test")
    empty = tmp_path / "empty"
    (empty / "sequenceFiles" / "test").mkdir(parents=True)
    with pytest.raises(HipartError, match=r"test: no \.pkl sequence files"):
        sequence_files(empty, "test")
    no_female = tmp_path / "smpl"
    no_female.mkdir()
    shutil.copy(pw3d_root / "smpl" / "basicmodel_m_lbs_10_207_0_v1.0.0.pkl", no_female)
    with pytest.raises(HipartError, match="no female SMPL model found"):
        PW3DTruth.from_folder(no_female)
    bad_reg = tmp_path / "J_regressor_h36m_correct.npy"
    np.save(bad_reg, np.zeros((17, 10)))
    with pytest.raises(HipartError, match=r"regressor has shape \(17, 10\), expected \(17, 150\)"):
        PW3DTruth.from_folder(pw3d_root / "smpl", bad_reg)
    archive = tmp_path / "regressor.npz"
    np.savez(archive, J=np.zeros((17, 150)))
    with pytest.raises(HipartError, match="an .npz archive, not a .npy array"):
        PW3DTruth.from_folder(pw3d_root / "smpl", archive)
    with pytest.raises(HipartError, match="no such file; --occ-list"):
        read_occ_list(tmp_path / "missing.txt")
    with pytest.raises(HipartError, match="expected \\(n, 18, 3\\)"):
        openpose_to_h36m(np.zeros((2, 17, 3)))


# ---------------------------------------------------------------- the command on a trained run


@pytest.mark.slow
def test_bench_3dpw_command_scores_every_method_per_sequence(pipeline_run, rendered_root, tmp_path):
    pytest.importorskip("mediapipe")
    from click.testing import CliRunner

    from hipart_cli.main import cli

    run, _ = pipeline_run
    adapter = mean_of_primaries().save(tmp_path / "adapter.npz")
    occ = tmp_path / "occ.txt"
    occ.write_text("flat_guitar_01\n")
    out = tmp_path / "results"
    args = ["bench", "3dpw", "--run", str(run), "--root", str(rendered_root), "--smpl-dir",
            str(rendered_root / "smpl"), "--out", str(out), "--device", "cpu", "--quiet"]
    result = CliRunner().invoke(cli, args + ["--twod", "detector", "--adapter", str(adapter), "--occ-list", str(occ)])
    assert result.exit_code == 0, result.output
    folder = out / "3dpw"
    summary = pd.read_csv(folder / "3dpw.csv", index_col=0)
    assert {"HiPART (hier lifter)", "sparse lifter"} <= set(summary.index)
    assert summary.columns.tolist() == ["MPJPE", "PA-MPJPE", "MPJPE OCC", "PA-MPJPE OCC"]
    assert np.isfinite(summary.loc["HiPART (hier lifter)"]).all()
    mp = pd.read_csv(folder / "3dpw_mpjpe.csv", index_col=0)
    assert mp.index.tolist() == ["downtown_walking_00", "flat_guitar_01", ALL_FRAMES]
    occ_mp = pd.read_csv(folder / "3dpw_occ_mpjpe.csv", index_col=0)
    assert occ_mp.loc[ALL_FRAMES, "sparse lifter"] == pytest.approx(mp.loc["flat_guitar_01", "sparse lifter"])
    counts = pd.read_csv(folder / "3dpw_frames.csv", index_col=0)
    assert counts.loc["total", "frames"] == 17 and counts.loc["flat_guitar_01", "no 2D (held)"] == 1
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["settings"]["twod"] == "detector" and meta["settings"]["occ_sequences"] == ["flat_guitar_01"]
    assert (folder / "3dpw.png").is_file() and (folder / "detections" / "blazepose").is_dir()

    pickle_run = CliRunner().invoke(cli, args + ["--twod", "pickle", "--normalize", "image", "--frames", "3"])
    assert pickle_run.exit_code == 0, pickle_run.output
    counts = pd.read_csv(folder / "3dpw_frames.csv", index_col=0)
    assert counts.loc["total", "frames"] == 2 + 3 + 3

    bad = CliRunner().invoke(cli, ["bench", "3dpw", "--run", str(run), "--root", str(tmp_path / "nowhere")])
    assert bad.exit_code == 1
    assert bad.output.strip().splitlines() == [f"Error: {tmp_path / 'nowhere'}: no such folder; point at the 3DPW "
                                               "root (holding sequenceFiles/ and imageFiles/)"]

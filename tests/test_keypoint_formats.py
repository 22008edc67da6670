"""Other detectors' keypoint files (COCO-17 as mmpose / ViTPose / YOLO-pose write them, OpenPose BODY_25 and COCO-18):
format detection, the mapping to Human3.6M's 17 joints on hand-made people with known answers, several people per
file through `predict_file` and the CLI (with a stand-in model: no trained run needed), and the one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import hipart.predict
from hipart.errors import HipartError
from hipart.keypoint_formats import (BODY25, COCO17, COCO18, FACE_RULES, SPINE_RATIO, detect_format, parse_coco,
                                     parse_openpose, to_h36m)
from hipart.predict import predict_file, read_inputs
from hipart.skeleton import H36M
from hipart_cli.main import cli

J = {name: H36M.index(name) for name in H36M.names}
EARS, EYES, NOSE = FACE_RULES


def person(layout: tuple[str, ...], shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """A hand-made upright person in ``layout`` (px; y down) and distinct confidences per joint."""
    at = {"nose": (500, 205), "left_eye": (506, 198), "right_eye": (494, 198), "left_ear": (512, 202),
          "right_ear": (488, 202), "neck": (501, 251), "left_shoulder": (540, 250), "right_shoulder": (460, 254),
          "left_elbow": (550, 320), "right_elbow": (450, 320), "left_wrist": (555, 390), "right_wrist": (445, 390),
          "mid_hip": (499, 401), "left_hip": (525, 400), "right_hip": (475, 404), "left_knee": (527, 500),
          "right_knee": (473, 500), "left_ankle": (528, 600), "right_ankle": (472, 600), "left_big_toe": (540, 610),
          "left_small_toe": (535, 612), "left_heel": (525, 605), "right_big_toe": (460, 610),
          "right_small_toe": (465, 612), "right_heel": (475, 605)}
    xy = np.asarray([at[n] for n in layout], np.float32) + shift
    conf = np.linspace(0.9, 0.5, len(layout)).astype(np.float32)
    return xy, conf


def coco_instance(shift: float = 0.0, **extra) -> dict:
    xy, conf = person(COCO17, shift)
    return {"keypoints": xy.tolist(), "keypoint_scores": conf.tolist(), "bbox": [[0, 0, 10, 10]], "bbox_score": 0.9,
            **extra}


def openpose_person(layout: tuple[str, ...] = BODY25, shift: float = 0.0, person_id=(-1,)) -> dict:
    xy, conf = person(layout, shift)
    return {"person_id": list(person_id), "pose_keypoints_2d": np.c_[xy, conf].reshape(-1).tolist(),
            "face_keypoints_2d": [], "hand_left_keypoints_2d": []}


def write(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj))
    return path


# ---------------------------------------------------------------------------------------------- mapping


def test_coco17_pelvis_thorax_and_spine_are_the_midpoints_and_the_fixed_ratio_with_minimum_confidences():
    xy, conf = person(COCO17)
    x, c = to_h36m(xy[None], conf[None], "coco17")
    i = {n: COCO17.index(n) for n in COCO17}
    pelvis = (xy[i["left_hip"]] + xy[i["right_hip"]]) / 2
    thorax = (xy[i["left_shoulder"]] + xy[i["right_shoulder"]]) / 2
    np.testing.assert_allclose(x[0, J["Pelvis"]], pelvis)
    np.testing.assert_allclose(x[0, J["Thorax"]], thorax)
    np.testing.assert_allclose(x[0, J["Spine"]], pelvis + SPINE_RATIO * (thorax - pelvis))
    assert c[0, J["Pelvis"]] == min(conf[i["left_hip"]], conf[i["right_hip"]])
    assert c[0, J["Thorax"]] == min(conf[i["left_shoulder"]], conf[i["right_shoulder"]])
    assert c[0, J["Spine"]] == min(conf[[i["left_hip"], i["right_hip"], i["left_shoulder"], i["right_shoulder"]]])
    for h36m, coco in (("RKnee", "right_knee"), ("LWrist", "left_wrist"), ("RShoulder", "right_shoulder")):
        np.testing.assert_array_equal(x[0, J[h36m]], xy[i[coco]])
        assert c[0, J[h36m]] == conf[i[coco]]


def test_coco17_nose_and_head_lie_on_the_line_from_the_thorax_through_the_ears_midpoint():
    xy, conf = person(COCO17)
    x, c = to_h36m(xy[None], conf[None], "coco17")
    i = {n: COCO17.index(n) for n in COCO17}
    thorax = (xy[i["left_shoulder"]] + xy[i["right_shoulder"]]) / 2
    ears = (xy[i["left_ear"]] + xy[i["right_ear"]]) / 2
    _, a, b = EARS
    np.testing.assert_allclose(x[0, J["Nose"]], thorax + a * (ears - thorax), rtol=1e-6)
    np.testing.assert_allclose(x[0, J["Head"]], thorax + b * (ears - thorax), rtol=1e-6)
    sources = [i[n] for n in ("left_shoulder", "right_shoulder", "left_ear", "right_ear")]
    assert c[0, J["Head"]] == c[0, J["Nose"]] == conf[sources].min()


def test_without_ears_the_head_rule_falls_back_to_the_eyes_then_the_nose():
    xy, conf = person(COCO17)
    i = {n: COCO17.index(n) for n in COCO17}
    conf[[i["left_ear"], i["right_ear"]]] = 0
    no_eyes = conf.copy()
    no_eyes[[i["left_eye"], i["right_eye"]]] = 0
    x, c = to_h36m(np.stack([xy, xy]), np.stack([conf, no_eyes]), "coco17")
    thorax = (xy[i["left_shoulder"]] + xy[i["right_shoulder"]]) / 2
    eyes = (xy[i["left_eye"]] + xy[i["right_eye"]]) / 2
    np.testing.assert_allclose(x[0, J["Head"]], thorax + EYES[2] * (eyes - thorax), rtol=1e-6)
    np.testing.assert_allclose(x[1, J["Nose"]], thorax + NOSE[1] * (xy[i["nose"]] - thorax), rtol=1e-6)
    assert c[1, J["Head"]] == min(conf[i["nose"]], conf[i["left_shoulder"]], conf[i["right_shoulder"]])


def test_a_midpoint_with_one_source_missing_sits_on_the_other_with_confidence_zero():
    xy, conf = person(COCO17)
    i = {n: COCO17.index(n) for n in COCO17}
    xy[i["right_hip"]], conf[i["right_hip"]] = (0, 0), 0  # as OpenPose writes a joint it did not find
    x, c = to_h36m(xy[None], conf[None], "coco17")
    np.testing.assert_array_equal(x[0, J["Pelvis"]], xy[i["left_hip"]])
    assert c[0, J["Pelvis"]] == 0 and c[0, J["Spine"]] == 0 and c[0, J["RHip"]] == 0


def test_openpose_body25_takes_the_pelvis_from_midhip_and_the_thorax_from_the_neck():
    xy, conf = person(BODY25)
    x, c = to_h36m(xy[None], conf[None], "body25")
    i = {n: BODY25.index(n) for n in BODY25}
    np.testing.assert_array_equal(x[0, J["Pelvis"]], xy[i["mid_hip"]])
    np.testing.assert_array_equal(x[0, J["Thorax"]], xy[i["neck"]])
    assert c[0, J["Pelvis"]] == conf[i["mid_hip"]] and c[0, J["Thorax"]] == conf[i["neck"]]
    assert c[0, J["Spine"]] == min(conf[i["mid_hip"]], conf[i["neck"]])
    np.testing.assert_array_equal(x[0, J["LAnkle"]], xy[i["left_ankle"]])
    ears = (xy[i["left_ear"]] + xy[i["right_ear"]]) / 2
    np.testing.assert_allclose(x[0, J["Head"]], xy[i["neck"]] + EARS[2] * (ears - xy[i["neck"]]), rtol=1e-6)


def test_openpose_coco18_takes_the_pelvis_from_the_hips_and_the_thorax_from_the_neck():
    xy, conf = person(COCO18)
    x, c = to_h36m(xy[None], conf[None], "coco18")
    i = {n: COCO18.index(n) for n in COCO18}
    np.testing.assert_allclose(x[0, J["Pelvis"]], (xy[i["left_hip"]] + xy[i["right_hip"]]) / 2)
    np.testing.assert_array_equal(x[0, J["Thorax"]], xy[i["neck"]])
    assert c[0, J["Pelvis"]] == min(conf[i["left_hip"]], conf[i["right_hip"]])


# ---------------------------------------------------------------------------------------------- detection and parsing


@pytest.mark.parametrize("obj, fmt", [
    ({"version": 1.3, "people": [openpose_person()]}, "openpose"),
    ([coco_instance()], "coco"),  # MMPoseInferencer's pred_out_dir, one image
    ([{"frame_id": 0, "instances": [coco_instance()]}], "coco"),  # ... a video
    ({"meta_info": {}, "instance_info": [coco_instance()]}, "coco"),  # mmpose's topdown demo
    ({"predictions": [[coco_instance()]]}, "coco"),  # MMPoseInferencer's result, dumped
    ([{"image_id": 1, "category_id": 1, "keypoints": [1.0] * 51, "score": 0.9}], "coco"),  # COCO results (ViTPose)
    ([{"name": "person", "keypoints": {"x": [1.0] * 17, "y": [1.0] * 17, "visible": [0.5] * 17}}], "coco"),  # YOLO
    ({"keypoints": [[[1.0, 2.0]] * 17], "image_size": [640, 480]}, "h36m"),
    ([[[1.0, 2.0]] * 17], "h36m"),
    ({"something": 1}, None),
])
def test_the_format_is_detected_from_the_file(obj, fmt):
    assert detect_format(obj) == fmt


def test_each_coco_layout_reads_the_same_person():
    xy, conf = person(COCO17)
    layouts = [
        [coco_instance()],
        {"meta_info": {}, "instance_info": [{"frame_id": 1, "instances": [coco_instance()]}]},
        [{"image_id": 7, "category_id": 1, "keypoints": np.c_[xy, conf].reshape(-1).tolist(), "score": 0.9}],
        [{"keypoints": {"x": xy[:, 0].tolist(), "y": xy[:, 1].tolist(), "visible": conf.tolist()}}],
    ]
    for obj in layouts:
        people = parse_coco(obj, "f.json")
        np.testing.assert_allclose(people.keypoints[0], xy)
        np.testing.assert_allclose(people.confidence[0], conf)
        assert people.layout == "coco17"


def test_coco_visibility_flags_become_confidence_zero_or_one():
    xy, _ = person(COCO17)
    v = np.tile([2, 1, 0], 6)[:17]
    people = parse_coco([{"image_id": 1, "keypoints": np.c_[xy, v].reshape(-1).tolist()}], "f.json")
    np.testing.assert_array_equal(people.confidence[0], (v > 0).astype(np.float32))


def test_scores_slightly_above_one_are_clipped_and_said():
    inst = coco_instance()
    inst["keypoint_scores"][3] = 1.08  # as mmpose's RTMPose gives
    people = parse_coco([inst], "f.json")
    assert people.confidence.max() == 1.0 and "clipped to 1" in people.notes[0]


def test_openpose_person_ids_are_kept_and_untracked_people_numbered():
    tracked = parse_openpose({"people": [openpose_person(person_id=[4]), openpose_person(person_id=[9])]}, "f.json")
    untracked = parse_openpose({"people": [openpose_person(), openpose_person()]}, "f.json")
    assert tracked.person_id.tolist() == [4, 9] and untracked.person_id.tolist() == [0, 1]


# ---------------------------------------------------------------------------------------------- several people


class StandInModel:
    """HiPART's interface without a trained run: x_d, x_f copy the sparse joints' mean, X the 2D with depth 0; it
    reads no confidence, as a run trained without it."""

    reads_confidence = False

    @classmethod
    def from_run(cls, run, device="auto", compile="auto") -> "StandInModel":
        return cls()

    def __call__(self, x_s: np.ndarray, size: tuple[int, int], confidence=None) -> dict[str, torch.Tensor]:
        assert confidence is None  # predict gives a confidence only to a model that reads one
        x = torch.as_tensor(x_s)
        mean = x.mean(1, keepdim=True)
        return {"x_d": mean.expand(-1, 48, -1), "x_f": mean.expand(-1, 96, -1),
                "X": torch.cat([x, torch.zeros(*x.shape[:2], 1)], -1)}


@pytest.fixture()
def stand_in(monkeypatch):
    monkeypatch.setattr(hipart.predict, "HiPART", StandInModel)


def test_a_coco_file_with_two_people_yields_two_results_with_their_ids(tmp_path, stand_in):
    inp = write(tmp_path / "mmpose.json", [coco_instance(track_id=3), coco_instance(100.0, track_id=8)])
    arrays = predict_file("no-run", inp, tmp_path / "p.npz", (1280, 720), log=lambda m: None)
    assert arrays["X"].shape == (2, 17, 3) and arrays["x_d"].shape == (2, 48, 2)
    assert arrays["person_id"].tolist() == [3, 8] and arrays["frame"].tolist() == [0, 0]
    np.testing.assert_allclose(arrays["x_s"][1] - arrays["x_s"][0], 100.0, rtol=1e-6)
    with np.load(tmp_path / "p.npz") as z:
        assert z["confidence"].shape == (2, 17) and z["person_id"].tolist() == [3, 8]


def test_an_openpose_folder_and_the_cli_give_every_person_of_every_frame(tmp_path, stand_in):
    frames = tmp_path / "openpose"
    frames.mkdir()
    write(frames / "clip_000000000000_keypoints.json", {"people": [openpose_person(), openpose_person(shift=50)]})
    write(frames / "clip_000000000001_keypoints.json", {"people": []})
    write(frames / "clip_000000000002_keypoints.json", {"people": [openpose_person(shift=5)]})
    result = CliRunner().invoke(cli, ["predict", "--input", str(frames), "--image-size", "1280", "720", "--out",
                                      str(tmp_path / "p.json")])
    assert result.exit_code == 0, result.output
    assert "OpenPose BODY_25 keypoints, 3 pose(s)" in result.output
    out = json.loads((tmp_path / "p.json").read_text())
    assert out["person_id"] == [0, 1, 0] and out["frame"] == [0, 0, 2] and len(out["confidence"]) == 3


def test_h36m_inputs_are_read_as_before_without_new_keys(tmp_path, stand_in):
    x = np.random.default_rng(0).uniform(300, 700, (3, 17, 2)).astype(np.float32)
    np.save(tmp_path / "kp.npy", x)
    write(tmp_path / "kp.json", {"keypoints": x.tolist(), "image_size": [640, 480]})
    for path, size in ((tmp_path / "kp.npy", (1000, 1000)), (tmp_path / "kp.json", (640, 480))):
        groups = read_inputs(path, None, log=lambda m: None)
        (x_s, got, extra), = groups.values()
        np.testing.assert_array_equal(x_s, x)
        assert got == size and extra == {}
    arrays = predict_file("no-run", tmp_path / "kp.json", tmp_path / "p.npz", log=lambda m: None)
    assert sorted(arrays) == ["X", "x_d", "x_f", "x_s"]


# ---------------------------------------------------------------------------------------------- bad inputs


def bad_files() -> dict[str, tuple[object, str]]:
    coco16 = coco_instance()
    coco16["keypoints"], coco16["keypoint_scores"] = coco16["keypoints"][:16], coco16["keypoint_scores"][:16]
    op_bad_conf = openpose_person()
    op_bad_conf["pose_keypoints_2d"][2] = 3.0
    coco_null = coco_instance()
    coco_null["keypoints"][4] = [None, 1.0]
    coco_nan_score = coco_instance()
    coco_nan_score["keypoint_scores"][0] = float("nan")
    return {
        "coco_16_joints": ([coco16], "has 16 keypoints; COCO-17 has 17"),
        "openpose_60_numbers": ({"people": [{"pose_keypoints_2d": [1.0] * 60}]}, "has 60 numbers in pose_keypoints_2d"),
        "openpose_nobody": ({"version": 1.3, "people": []}, "no people in this file"),
        "coco_nobody": ([], "no people in this file"),
        "coco_video_nobody": ([{"frame_id": 0, "instances": []}], "no people in this file"),
        "openpose_confidence_3": ({"people": [op_bad_conf]}, "keypoint confidences range over [0.5, 3]"),
        "coco_negative_scores": ([coco_instance(keypoint_scores=[-0.1] * 17)], "range over [-0.1, -0.1]"),
        "coco_null_keypoint": ([coco_null], "keypoints hold NaN or infinite values (or nulls)"),
        "coco_nan_score": ([coco_nan_score], "keypoint confidences hold NaN"),
    }


@pytest.mark.parametrize("name", list(bad_files()))
def test_each_bad_keypoint_file_is_one_error_line_naming_the_file(name, tmp_path):
    obj, says = bad_files()[name]
    inp = write(tmp_path / f"{name}.json", obj)
    result = CliRunner().invoke(cli, ["predict", "--run", str(tmp_path / "no-run"), "--input", str(inp), "--out",
                                      str(tmp_path / "p.npz")])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1, result.output
    assert lines[0].startswith(f"Error: {inp}: ") and says in lines[0], lines[0]
    assert not (tmp_path / "p.npz").exists()


def test_a_format_that_does_not_match_the_file_is_refused(tmp_path):
    coco = write(tmp_path / "coco.json", [coco_instance()])
    with pytest.raises(HipartError, match="not an OpenPose file"):
        read_inputs(coco, None, log=lambda m: None, fmt="openpose")
    np.save(tmp_path / "kp.npy", np.zeros((1, 17, 2), np.float32))
    with pytest.raises(HipartError, match="read from their .json files"):
        read_inputs(tmp_path / "kp.npy", None, log=lambda m: None, fmt="coco")
    with pytest.raises(HipartError, match="cannot tell the keypoint format"):
        read_inputs(write(tmp_path / "odd.json", {"something": 1}), None, log=lambda m: None)

"""Other detectors' 2D keypoint files -> Human3.6M's 17 joints, with per-joint confidence.

Formats (``--format`` of ``hipart predict``):

- ``coco``: COCO-17 body keypoints as mmpose, ViTPose and YOLO-pose write them:
  mmpose's inferencer (``pred_out_dir``: a list of instances per image, or ``[{"frame_id", "instances"}]`` per
  video; ``{"predictions": [[instances]]}`` as returned), mmpose's demo (``{"meta_info", "instance_info"}``), where
  an instance is ``{"keypoints": [[x, y] x 17], "keypoint_scores": [s x 17], ...}`` (``"scores"`` also read);
  COCO results / annotations lists (ViTPose, mmpose 0.x, ``yolo val save_json``):
  ``[{"image_id", "keypoints": [x, y, v] x 17, "score"}]``; ultralytics' ``Results.to_json()``:
  ``[{"keypoints": {"x": [...], "y": [...], "visible": [...]}, "track_id"?}]`` (pixels: ``normalize=False``).
- ``openpose``: OpenPose's per-frame JSON ``{"version", "people": [{"person_id", "pose_keypoints_2d":
  [x, y, c] x 25 (BODY_25) or x 18 (COCO-18)}]}``.

Confidence: scores in [0, 1]; scores in (1, ``MAX_SCORE``] are clipped to 1 (mmpose's heatmap and SimCC heads give
such scores, open-mmlab/mmpose#2755, #3122); COCO's visibility flags (a file whose third values are all 0, 1 or 2)
become 0 (v = 0, not labelled) or 1 (v = 1 or 2, labelled). A joint with confidence 0 is *missing*.

Mapping (:func:`to_h36m`): limbs, hips and shoulders are copied; Pelvis = the midpoint of the hips (BODY_25:
its MidHip), Thorax = the midpoint of the shoulders (BODY_25 / COCO-18: their Neck), Spine = Pelvis +
``SPINE_RATIO`` (Thorax - Pelvis); Nose and Head lie on the line from Thorax through a face point F:
Nose = Thorax + a (F - Thorax), Head = Thorax + b (F - Thorax), with F and (a, b) from the first of ears, eyes,
nose that has a point present (F = the mean of its present points; ``FACE_RULES``). A derived joint's confidence
is the minimum of its sources' (a midpoint with one source missing sits on the other, confidence 0).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hipart.errors import HipartError
from hipart.skeleton import H36M

FORMATS = ("h36m", "coco", "openpose")

COCO17 = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
          "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee",
          "left_ankle", "right_ankle")
BODY25 = ("nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
          "mid_hip", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "right_eye",
          "left_eye", "right_ear", "left_ear", "left_big_toe", "left_small_toe", "left_heel", "right_big_toe",
          "right_small_toe", "right_heel")
COCO18 = BODY25[:8] + BODY25[9:19]  # OpenPose's COCO model: BODY_25 without MidHip and the feet
LAYOUTS: dict[str, tuple[str, ...]] = {"coco17": COCO17, "body25": BODY25, "coco18": COCO18}
LAYOUT_TITLES = {"coco17": "COCO-17", "body25": "OpenPose BODY_25", "coco18": "OpenPose COCO-18"}

# Human3.6M joints copied from the joint of the same name
DIRECT = {"RHip": "right_hip", "RKnee": "right_knee", "RAnkle": "right_ankle", "LHip": "left_hip",
          "LKnee": "left_knee", "LAnkle": "left_ankle", "LShoulder": "left_shoulder", "LElbow": "left_elbow",
          "LWrist": "left_wrist", "RShoulder": "right_shoulder", "RElbow": "right_elbow", "RWrist": "right_wrist"}

# Measured on the default data (data/default-demo: the synthetic Anny capture, not Human3.6M) with numpy, on its
# train shards' true joints and on BlazePose's landmarks of 2667 rendered train frames (`hipart data render`,
# `hipart detect`; BlazePose's nose, eyes, ears, shoulders and hips are COCO's points). SPINE_RATIO: Spine's
# position along Pelvis -> Thorax in the true 2D joints has mean 0.505 (3D: 0.506, sd 0.03), and 0.5 gave the
# smallest spine error on the detected hips and shoulders among 0.40-0.55 (7.6 px). FACE_RULES: medians of the
# true Nose and Head positions along mid-shoulders -> F on those renders (mean errors against the truth: ears
# 4.0 px / 8.3 px, eyes 9.5 / 18.2, nose 14.5 / 27.6; Pelvis-Thorax is about 110 px long there). The default
# data's Nose joint sits inside the head, near the ears' midpoint, rather than on the nose tip.
SPINE_RATIO = 0.5
FACE_RULES: tuple[tuple[tuple[str, ...], float, float], ...] = (  # (face points, Nose ratio a, Head ratio b)
    (("left_ear", "right_ear"), 0.87, 1.60),
    (("left_eye", "right_eye"), 0.77, 1.42),
    (("nose",), 0.83, 1.52),
)
MAX_SCORE = 1.5  # scores in (1, MAX_SCORE] are clipped to 1; above, the third numbers are not [0, 1] scores


@dataclass(frozen=True)
class People:
    """The people of a keypoint file, one row per person per frame, in the file's own joint layout."""

    keypoints: np.ndarray  # (N, J, 2) float32 px
    confidence: np.ndarray  # (N, J) float32 in [0, 1]
    person_id: np.ndarray  # (N,) int64: the file's track / person ids, else the index within the frame
    frame: np.ndarray  # (N,) int64: the file's frame / image id, else the frame's index in the file
    layout: str  # a key of LAYOUTS
    notes: tuple[str, ...] = ()  # things said about the reading (clipped scores, ...)


# ---------------------------------------------------------------------------------------------- detection


def detect_format(obj: Any) -> str | None:
    """'openpose', 'coco' or 'h36m' for a parsed JSON document, or None when the layout is not one of them.

    A dict with ``keypoints`` (and no ``keypoint_scores``) or a list of numbers is hipart's own h36m layout; an
    empty list is a COCO file without people.
    """
    if isinstance(obj, dict):
        if "people" in obj:
            return "openpose"
        if "instance_info" in obj or "predictions" in obj or "keypoint_scores" in obj or "annotations" in obj:
            return "coco"
        if "keypoints" in obj:
            return "h36m"
        return None
    if isinstance(obj, list):
        if not obj or all(isinstance(o, dict) for o in obj):  # mmpose writes [] for an image without people
            return "coco"
        return "h36m"
    return None


def read_json(path: str | Path) -> Any:
    """The parsed JSON document at ``path``, or a one-line error."""
    path = Path(path)
    if not path.is_file():
        raise HipartError(f"{path}: file not found")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HipartError(f"{path}: not valid JSON ({exc})") from None


# ---------------------------------------------------------------------------------------------- parsing


def parse_people(obj: Any, fmt: str, where: str | Path) -> People:
    """The people of a parsed ``coco`` or ``openpose`` document; ``where`` names the file in errors."""
    if fmt == "openpose":
        return parse_openpose(obj, where)
    if fmt == "coco":
        return parse_coco(obj, where)
    raise HipartError(f"{where}: unknown keypoint format '{fmt}'; use one of {', '.join(FORMATS)}")


def parse_openpose(obj: Any, where: str | Path) -> People:
    """OpenPose's ``{"people": [{"person_id", "pose_keypoints_2d": [x, y, c] x 25 or x 18}]}`` (one frame)."""
    if not isinstance(obj, dict) or not isinstance(obj.get("people"), list):
        raise HipartError(f"{where}: not an OpenPose file (no 'people' list); pass --format coco or h36m for other "
                          "layouts")
    rows, ids = [], []
    for i, person in enumerate(obj["people"]):
        flat = _numbers(person.get("pose_keypoints_2d") if isinstance(person, dict) else None, where,
                        f"person {i}'s pose_keypoints_2d")
        if flat.size not in (75, 54):
            raise HipartError(f"{where}: person {i} has {flat.size} numbers in pose_keypoints_2d; OpenPose BODY_25 "
                              "has 75 (25 joints x, y, c) and COCO-18 54; export the body keypoints with "
                              "--write_json")
        rows.append(flat.reshape(-1, 3))
        ids.append(_as_id(person.get("person_id")))
    if not rows:
        raise HipartError(f"{where}: no people in this file (the detector found nobody); give a file with at least "
                          "one person")
    if len({len(r) for r in rows}) > 1:
        raise HipartError(f"{where}: people with 25 and with 18 joints in one file; write it with one OpenPose model")
    x = np.stack(rows)
    layout = "body25" if x.shape[1] == 25 else "coco18"
    conf, notes = _confidence(x[..., 2], where, flags_allowed=False)
    return _people(x[..., :2], conf, ids, [0] * len(rows), layout, where, notes)


def parse_coco(obj: Any, where: str | Path) -> People:
    """COCO-17 people as mmpose, ViTPose (COCO results) and ultralytics write them (see the module docstring)."""
    frames = _coco_frames(obj, where)
    points, scores, ids, frame_of, flat_third = [], [], [], [], False
    for f, (frame, instances) in enumerate(frames):
        for i, inst in enumerate(instances):
            what = f"person {i}" + (f" of frame {frame}" if len(frames) > 1 else "")
            if not isinstance(inst, dict) or "keypoints" not in inst:
                raise HipartError(f"{where}: {what} has no 'keypoints'; expected COCO-17 keypoints as mmpose, "
                                  "ViTPose or YOLO-pose write them (or pass --format)")
            xy, s, triple = _coco_instance(inst, where, what)
            flat_third |= triple
            points.append(xy)
            scores.append(s)
            ids.append(_as_id(inst.get("track_id", inst.get("person_id", inst.get("instance_id")))))
            frame_of.append(frame)
    if not points:
        raise HipartError(f"{where}: no people in this file (the detector found nobody); give a file with at least "
                          "one person")
    conf, notes = _confidence(np.stack(scores), where, flags_allowed=flat_third)
    return _people(np.stack(points), conf, ids, frame_of, "coco17", where, notes)


def _coco_frames(obj: Any, where: str | Path) -> list[tuple[Any, list[Any]]]:
    """[(frame id, [instances])] of the coco layouts, in the file's order."""
    if isinstance(obj, dict):
        if "instance_info" in obj:  # mmpose demo --save-predictions
            obj = obj["instance_info"]
        elif "predictions" in obj:  # MMPoseInferencer's result: [[instances] per image]
            preds = obj["predictions"]
            if isinstance(preds, list) and all(isinstance(p, list) for p in preds):
                return [(i, p) for i, p in enumerate(preds)]
            obj = preds
        elif "annotations" in obj:  # a COCO annotation file
            obj = obj["annotations"]
        elif "keypoints" in obj:  # one instance on its own
            obj = [obj]
    if not isinstance(obj, list):
        raise HipartError(f"{where}: not COCO-17 keypoints as mmpose, ViTPose or YOLO-pose write them (expected a list "
                          "of people); pass --format openpose or h36m for other layouts")
    if obj and all(isinstance(o, dict) and "instances" in o for o in obj):  # video: [{frame_id, instances}]
        return [(o.get("frame_id", i), o["instances"] if isinstance(o["instances"], list) else [None])
                for i, o in enumerate(obj)]
    if any(isinstance(o, dict) and "image_id" in o for o in obj):  # COCO results: grouped by image_id
        groups: dict[Any, list[Any]] = {}
        for o in obj:
            groups.setdefault(o.get("image_id") if isinstance(o, dict) else None, []).append(o)
        return list(groups.items())
    return [(0, obj)]


def _coco_instance(inst: dict[str, Any], where: str | Path, what: str) -> tuple[np.ndarray, np.ndarray, bool]:
    """(17, 2) px, (17,) raw scores (1 where none given), whether the scores are a flat list's third values."""
    kp = inst["keypoints"]
    triple = False
    if isinstance(kp, dict):  # ultralytics: {"x": [...], "y": [...], "visible": [...]}
        xs, ys = _numbers(kp.get("x"), where, f"{what}'s keypoints x"), _numbers(kp.get("y"), where, f"{what}'s y")
        vis = kp.get("visible")
        s = _numbers(vis, where, f"{what}'s visible") if vis is not None else np.ones_like(xs)
        if not xs.size == ys.size == s.size:
            raise HipartError(f"{where}: {what} has {xs.size} x, {ys.size} y and {s.size} visible values")
        xy = np.stack([xs, ys], -1)
    else:
        a = _numbers(kp, where, f"{what}'s keypoints")
        if a.ndim == 1 and a.size % 3 == 0:  # COCO: [x, y, v] x 17 flat
            a, triple = a.reshape(-1, 3), True
        if a.ndim != 2 or a.shape[1] not in (2, 3):
            raise HipartError(f"{where}: {what}'s keypoints have shape {a.shape}; expected 17 [x, y] pairs, "
                              "17 [x, y, score] triples or a flat [x, y, v] x 17 list")
        xy = a[:, :2]
        triple |= a.shape[1] == 3
        key = "keypoint_scores" if "keypoint_scores" in inst else "scores" if "scores" in inst else None
        if key is not None:
            s = _numbers(inst[key], where, f"{what}'s {key}").reshape(-1)
            if s.size != len(xy):
                raise HipartError(f"{where}: {what} has {len(xy)} keypoints and {s.size} {key}")
            triple = False
        else:
            s = a[:, 2] if a.shape[1] == 3 else np.ones(len(xy))
    if len(xy) != len(COCO17):
        raise HipartError(f"{where}: {what} has {len(xy)} keypoints; COCO-17 has 17 (body only, not whole-body or "
                          "Halpe-26); export COCO-17 keypoints, or pass --format openpose or h36m")
    return xy, s, triple


def _numbers(value: Any, where: str | Path, what: str) -> np.ndarray:
    """A float64 array of ``value``'s numbers (None becomes NaN: JSON's null), or a one-line error."""
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise HipartError(f"{where}: {what} are not numbers (or not a regular array)") from None
    if value is None or a.ndim == 0:
        raise HipartError(f"{where}: {what} are missing; expected a list of numbers")
    return a


def _as_id(value: Any) -> int | None:
    """A non-negative whole-number id (OpenPose writes person_id as [-1] when untracked), else None."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < 0:
        return None
    return int(value)


def _confidence(scores: np.ndarray, where: str | Path, flags_allowed: bool) -> tuple[np.ndarray, tuple[str, ...]]:
    """(N, J) float32 confidences in [0, 1] from raw scores or COCO visibility flags, and notes; or an error."""
    if not np.isfinite(scores).all():
        raise HipartError(f"{where}: keypoint confidences hold NaN or infinite values; drop or fill those people first")
    if flags_allowed and np.isin(scores, (0, 1, 2)).all() and (scores == 2).any():
        return (scores > 0).astype(np.float32), ("COCO visibility flags read as confidence 0 (v = 0) or 1",)
    low, high = float(scores.min()), float(scores.max())
    if low < 0 or high > MAX_SCORE:
        raise HipartError(f"{where}: keypoint confidences range over [{low:.3g}, {high:.3g}], expected scores in "
                          "[0, 1] (or COCO visibility flags 0/1/2); rescale them to [0, 1]")
    notes = (f"{int((scores > 1).sum())} confidences above 1 (at most {high:.3g}) clipped to 1",) if high > 1 else ()
    return np.clip(scores, 0, 1).astype(np.float32), notes


def _people(xy: np.ndarray, conf: np.ndarray, ids: list[int | None], frames: list[Any], layout: str,
            where: str | Path, notes: tuple[str, ...]) -> People:
    if not np.isfinite(xy).all():
        raise HipartError(f"{where}: keypoints hold NaN or infinite values (or nulls); drop or fill those people first")
    frame = _frame_numbers(frames)
    if all(i is not None for i in ids):
        person = np.asarray(ids, np.int64)
    else:  # the index within the frame
        person = np.zeros(len(frame), np.int64)
        for f in np.unique(frame):
            at = np.flatnonzero(frame == f)
            person[at] = np.arange(len(at))
    return People(xy.astype(np.float32), conf, person, frame, layout, notes)


def _frame_numbers(frames: list[Any]) -> np.ndarray:
    """The file's frame / image ids when all are whole numbers, else each frame's index in order of appearance."""
    if all(isinstance(f, (int, float)) and not isinstance(f, bool) and f == int(f) for f in frames):
        return np.asarray(frames, np.int64)
    order: dict[Any, int] = {}
    return np.asarray([order.setdefault(json.dumps(f, default=str), len(order)) for f in frames], np.int64)


# ---------------------------------------------------------------------------------------------- mapping


def to_h36m(keypoints: np.ndarray, confidence: np.ndarray, layout: str) -> tuple[np.ndarray, np.ndarray]:
    """(N, J, 2) px and (N, J) confidences of ``layout`` -> (N, 17, 2) px, (N, 17) in Human3.6M order.

    The rule of the module docstring; missing joints (confidence 0) keep the file's coordinates.
    """
    names = LAYOUTS[layout]
    if keypoints.ndim != 3 or keypoints.shape[1:] != (len(names), 2) or confidence.shape != keypoints.shape[:2]:
        raise ValueError(f"expected ({len(names)}, 2) keypoints and ({len(names)},) confidences per person for "
                         f"{layout}, got {keypoints.shape} and {confidence.shape}")
    kp, cf = keypoints.astype(np.float64), confidence.astype(np.float64)

    def get(name: str) -> tuple[np.ndarray, np.ndarray]:
        j = names.index(name)
        return kp[:, j], cf[:, j]

    out = np.zeros((len(kp), H36M.num_joints, 2))
    conf = np.zeros((len(kp), H36M.num_joints))

    def put(joint: str, point: tuple[np.ndarray, np.ndarray]) -> None:
        out[:, H36M.index(joint)], conf[:, H36M.index(joint)] = point

    for joint, name in DIRECT.items():
        put(joint, get(name))
    pelvis = get("mid_hip") if "mid_hip" in names else _midpoint(get("left_hip"), get("right_hip"))
    thorax = get("neck") if "neck" in names else _midpoint(get("left_shoulder"), get("right_shoulder"))
    put("Pelvis", pelvis)
    put("Thorax", thorax)
    put("Spine", (pelvis[0] + SPINE_RATIO * (thorax[0] - pelvis[0]), np.minimum(pelvis[1], thorax[1])))
    face, face_conf, ratios = _face_point(kp, cf, names)
    for joint, k in (("Nose", 0), ("Head", 1)):
        put(joint, (thorax[0] + ratios[:, k:k + 1] * (face - thorax[0]), np.minimum(thorax[1], face_conf)))
    return out.astype(np.float32), conf.astype(np.float32)


def _midpoint(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The midpoint of two joints (on the present one where the other is missing), confidence the minimum."""
    (pa, ca), (pb, cb) = a, b
    mid = (pa + pb) / 2
    mid = np.where(((ca > 0) & (cb <= 0))[:, None], pa, mid)
    mid = np.where(((cb > 0) & (ca <= 0))[:, None], pb, mid)
    return mid, np.minimum(ca, cb)


def _face_point(kp: np.ndarray, cf: np.ndarray, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row the face point F (N, 2), its confidence (N,) and (Nose, Head) ratios (N, 2) of the first rule of
    FACE_RULES with a point present; rows with no face point present use the nose, confidence 0."""
    n = len(kp)
    face, conf = kp[:, names.index("nose")].copy(), np.zeros(n)
    ratios = np.tile(np.asarray(FACE_RULES[-1][1:]), (n, 1))
    todo = np.ones(n, bool)
    for points, a, b in FACE_RULES:
        idx = [names.index(p) for p in points]
        present = cf[:, idx] > 0  # (N, k)
        use = todo & present.any(axis=1)
        if use.any():
            w = present[use].astype(np.float64)
            face[use] = (kp[use][:, idx] * w[..., None]).sum(axis=1) / w.sum(axis=1, keepdims=True)
            conf[use] = np.where(present[use], cf[use][:, idx], np.inf).min(axis=1)
            ratios[use] = (a, b)
            todo &= ~use
    return face, conf, ratios

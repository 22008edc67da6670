"""``hipart bench 3dpw``: every method of a run on 3DPW's test sequences (and the 3DPW-OCC subset): MPJPE and
PA-MPJPE (mm) per sequence on the 14 joints 3DPW results are reported on.

Ground truth (:mod:`hipart.data.pw3d`): Pose2Mesh's recipe, the 17 Human3.6M joints regressed with
``J_regressor_h36m_correct.npy`` from the gender-specific SMPL mesh in camera space, frames with ``campose_valid``
only. Scores: both poses root-relative at the pelvis, then the 14 joints without pelvis, spine and nose
(Pose2Mesh's ``human36_eval_joint``; the same set as SPIN's ``H36M_TO_J14``); PA-MPJPE after a similarity
Procrustes alignment of those 14 joints.

The observed 2D pose every method reads (``--twod``):
- ``detector``: BlazePose on a crop around each actor (the ground-truth joints' box enlarged by ``CROP_MARGIN``,
  as top-down evaluations crop with the annotated box, so two actors of a sequence are told apart), mapped to the
  17 joints by the run dataset's joint adapter. The adapter was fitted on renders of the training bodies, whose
  joints are the rig's, not SMPL's regressed ones: that difference is part of what 3DPW measures.
- ``pickle``: the COCO-18 (OpenPose) 2D stored in the pickles, mapped to the 17 joints by :data:`OPENPOSE_TO_H36M`.
  It has no pelvis, spine or head top: pelvis = mid-hips, thorax = OpenPose's neck, spine = midway between
  pelvis and thorax, nose = nose, head = nose + (nose - neck) / 2. Joints with zero confidence are missing.
- ``gt``: the projection of the ground truth (an upper bound; no detector error).
Frames without a person (detector) are held from the nearest detected frame of the same actor, missing joints
(pickle) from the nearest frame that has them; an actor without any gets the training split's mean pose placed in
the ground-truth box. All are counted in the frames table; nothing is dropped.

Domain gap (``--normalize``): the methods learned Human3.6M-like inputs, 1000 x 1000 images normalized by
``x / w * 2 - [1, h / w]`` with the person near the centre at a typical size; 3DPW's phone videos are 1080 x 1920
(or 1920 x 1080) with the person anywhere, at any size. ``box`` (default) moves each frame's observed 2D pose by a
similarity so that its box (over the 17 joints) has the training split's median centre and size, in the training
images' size: the lifters see a person where they saw one in training (pose shape kept, perspective cues from
the real position lost). ``image`` feeds the 3DPW pixels as they are. Temporal methods read each actor's runs of
consecutive kept frames at 3DPW's 30 fps as they are (Human3.6M-like training data is 50 fps; nothing is resampled).
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from hipart.bench.common import BenchRun, Results
from hipart.bench.methods import LiftMethod, lift_methods, predict_lifters
from hipart.data.dataset import PoseDataset
from hipart.data.pw3d import (PW3DTrack, PW3DTruth, find_sequences, image_path, image_size, load_3dpw_sequence,
                              sequence_files)
from hipart.detect.adapter import JointAdapter
from hipart.detect.base import Detections, Detector
from hipart.detect.blazepose import make_detector
from hipart.errors import HipartError
from hipart.io import atomic_path
from hipart.metrics import mpjpe, p_mpjpe
from hipart.render.store import read_image
from hipart.skeleton import H36M
from hipart.training.inputs import SplitFrames, hold_missing, mean_training_pose

EVAL_JOINTS = (1, 2, 3, 4, 5, 6, 8, 10, 11, 12, 13, 14, 15, 16)  # H36M-17 without pelvis, spine, nose
TWOD_SOURCES = ("auto", "detector", "pickle", "gt")
NORMALIZATIONS = ("box", "image")
CROP_MARGIN = 1.3  # detector crop: side = this x the longer side of the ground-truth joints' box
MIN_CROP_PX = 16  # a crop smaller than this (person mostly outside the image) is not sent to the detector
ALL_FRAMES = "all frames"

OPENPOSE_18 = ("Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "RHip", "RKnee",
               "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar")


def _openpose_map() -> np.ndarray:
    """(17, 18) weights: each H36M joint as a combination of COCO-18 (OpenPose) keypoints."""
    rows = {"Pelvis": {"RHip": 0.5, "LHip": 0.5}, "Spine": {"RHip": 0.25, "LHip": 0.25, "Neck": 0.5},
            "Thorax": {"Neck": 1.0}, "Nose": {"Nose": 1.0}, "Head": {"Nose": 1.5, "Neck": -0.5}}
    for side in "RL":
        for part in ("Hip", "Knee", "Ankle", "Shoulder", "Elbow", "Wrist"):
            rows.setdefault(side + part, {side + part: 1.0})
    W = np.zeros((H36M.num_joints, len(OPENPOSE_18)))
    for j, name in enumerate(H36M.names):
        for k, w in rows[name].items():
            W[j, OPENPOSE_18.index(k)] = w
    return W


OPENPOSE_TO_H36M = _openpose_map()


# ---------------------------------------------------------------- the observed 2D pose


@dataclass
class TrackInputs:
    """One track's observed 2D pose before filling: (n, 17, 2) px (NaN where missing) and (n, 17) presence."""

    x: np.ndarray
    present: np.ndarray


def openpose_to_h36m(poses_2d: np.ndarray) -> TrackInputs:
    """COCO-18 (x, y, confidence) (n, 18, 3) -> the 17 H36M joints; a joint is present when every keypoint it is
    made of has a non-zero confidence (3DPW stores undetected keypoints as zeros)."""
    poses_2d = np.asarray(poses_2d, dtype=np.float64)
    if poses_2d.ndim != 3 or poses_2d.shape[1:] != (len(OPENPOSE_18), 3):
        raise HipartError(f"COCO-18 2D poses have shape {poses_2d.shape}, expected (n, 18, 3)")
    seen = poses_2d[..., 2] > 0
    used = OPENPOSE_TO_H36M != 0
    present = ~(used[None] & ~seen[:, None, :]).any(axis=-1)
    x = np.einsum("jk,nkc->njc", OPENPOSE_TO_H36M, poses_2d[..., :2])
    x[~present] = np.nan
    return TrackInputs(x, present)


def crop_boxes(joints_2d: np.ndarray, size: tuple[int, int], margin: float = CROP_MARGIN) -> np.ndarray:
    """(n, 4) int [x0, y0, x1, y1) square crops around (n, 17, 2) px joints, ``margin`` x their box's longer side,
    clipped to the (width, height) image."""
    lo, hi = joints_2d.min(axis=1), joints_2d.max(axis=1)
    centre, half = (lo + hi) / 2, margin * (hi - lo).max(axis=1, keepdims=True) / 2
    box = np.concatenate([np.floor(centre - half), np.ceil(centre + half)], axis=1)
    return np.clip(box, 0, [size[0], size[1], size[0], size[1]]).astype(np.int64)


def _cache_key(detector: Detector, root: Path, track: PW3DTrack, boxes: np.ndarray) -> str:
    h = hashlib.sha256(f"{detector.fingerprint()}/{track.sequence}".encode())
    h.update(boxes.tobytes())
    for f in track.frames:
        path = image_path(root, track.sequence, f)
        h.update(f"{path.name}:{path.stat().st_size if path.is_file() else -1}".encode())
    return h.hexdigest()


def detect_track(root: str | Path, track: PW3DTrack, detector: Detector, cache: str | Path | None = None,
                 progress: bool = False) -> Detections:
    """The detector's keypoints (full-image px) on each kept frame's crop around the actor; cached per track in
    ``cache`` by the detector, the crops and the image files, so an interrupted run resumes."""
    root = Path(root)
    boxes = crop_boxes(track.joints_2d, track.image_size)
    key = _cache_key(detector, root, track, boxes)
    path = Path(cache) / f"{track.sequence}_actor{track.actor}.npz" if cache is not None else None
    if path is not None and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                if str(z["key"]) == key:
                    return Detections(z["keypoints"], z["confidence"], z["detected"], detector.keypoint_names)
        except (OSError, ValueError, KeyError):
            pass  # a damaged entry is detected again and rewritten
    parts = []
    steps = tqdm(range(len(track)), desc=f"{track.sequence} actor {track.actor}", unit="frame", leave=False,
                 disable=not progress)
    for i in steps:
        x0, y0, x1, y1 = boxes[i]
        k = len(detector.keypoint_names)
        if min(x1 - x0, y1 - y0) < MIN_CROP_PX:
            parts.append(Detections(np.full((1, k, 2), np.nan, np.float32), np.zeros((1, k), np.float32),
                                    np.zeros(1, bool), detector.keypoint_names))
            continue
        image = read_image(image_path(root, track.sequence, track.frames[i]))
        if image.shape[1::-1] != tuple(track.image_size):
            raise HipartError(f"{image_path(root, track.sequence, track.frames[i])}: {image.shape[1]}x{image.shape[0]} "
                              f"px, but the sequence's first image is {track.image_size[0]}x{track.image_size[1]}")
        det = detector.detect([np.ascontiguousarray(image[y0:y1, x0:x1])])
        det.keypoints = det.keypoints + np.array([x0, y0], np.float32)
        parts.append(det)
    out = Detections.concatenate(parts, detector.keypoint_names)
    if path is not None:
        with atomic_path(path) as tmp:
            np.savez(tmp, key=np.asarray(key), boxes=boxes, frames=track.frames, **out.arrays())
    return out


def detector_inputs(root: str | Path, track: PW3DTrack, detector: Detector, adapter: JointAdapter,
                    cache: str | Path | None = None, progress: bool = False) -> TrackInputs:
    det = detect_track(root, track, detector, cache, progress)
    found = det.detected
    x = np.full((len(det), H36M.num_joints, 2), np.nan)
    if found.any():  # frames without a person have no keypoints to adapt
        joints = adapter.apply(Detections(det.keypoints[found], det.confidence[found], found[found], det.names))
        x[found] = np.where(joints.detected[:, None, None], joints.keypoints, np.nan)
    return TrackInputs(x, np.isfinite(x).all(axis=-1))


def truth_inputs(track: PW3DTrack) -> TrackInputs:
    return TrackInputs(track.joints_2d.copy(), np.ones(track.joints_2d.shape[:2], bool))


def place_in_boxes(pose: np.ndarray, joints_2d: np.ndarray) -> np.ndarray:
    """A (17, 2) pose moved and scaled (similarity) into the box of each frame's joints (n, 17, 2) -> (n, 17, 2)."""
    c, s = person_boxes(pose[None])
    tc, ts = person_boxes(joints_2d)
    return (pose[None] - c[:, None]) * (ts / s)[:, None, None] + tc[:, None]


@dataclass
class FilledInputs:
    x: np.ndarray  # (n, 17, 2) px, finite
    no_person: np.ndarray  # (n,) nothing observed in the frame
    partial: np.ndarray  # (n,) some joints observed, others filled
    mean_pose: np.ndarray  # (n,) at least one joint from the mean pose (never observed in the track)


def fill_missing(inputs: TrackInputs, joints_2d: np.ndarray, mean_pose: np.ndarray) -> FilledInputs:
    """Each missing joint from the nearest frame of the track where it was observed (the earlier on a tie); a joint
    never observed in the track from the training mean pose placed in the frame's ground-truth box."""
    n = len(inputs.x)
    start, end = np.zeros(n, np.int64), np.full(n, n, np.int64)
    x = np.empty_like(inputs.x)
    for j in range(H36M.num_joints):
        x[:, j:j + 1], _ = hold_missing(inputs.x[:, j:j + 1], inputs.present[:, j], start, end,
                                        np.full((1, 2), np.nan))
    never = ~np.isfinite(x).all(axis=-1)
    if never.any():
        x[never] = place_in_boxes(mean_pose, joints_2d)[never]
    seen = inputs.present.sum(axis=1)
    return FilledInputs(x, seen == 0, (seen > 0) & (seen < H36M.num_joints), never.any(axis=1))


# ---------------------------------------------------------------- normalization and frames


def person_boxes(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre (n, 2) and size (n,) (the longer side) of each pose's box over its joints (n, J, 2)."""
    lo, hi = x.min(axis=1), x.max(axis=1)
    return (lo + hi) / 2, np.maximum((hi - lo).max(axis=1), 1e-6)


@dataclass(frozen=True)
class BoxTarget:
    """Where ``--normalize box`` puts each observed pose: the training split's median box centre and size (px) in
    images of the training split's median size."""

    centre: np.ndarray  # (2,)
    size: float
    image_size: np.ndarray  # (2,) width, height

    @classmethod
    def of_dataset(cls, data_dir: str | Path, stride: int = 10) -> "BoxTarget":
        a = PoseDataset(data_dir, "train", fields=("x_s",), normalize=False, verify=False).arrays()
        x, sizes = a["x_s"][::stride].astype(np.float64), a["image_size"][::stride].astype(np.float64)
        centre, size = person_boxes(x)
        return cls(np.median(centre, axis=0), float(np.median(size)), np.median(sizes, axis=0))

    def apply(self, x: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
        """Poses (n, J, 2) px moved so that ``reference``'s box (default: their own) lands on the target's."""
        c, s = person_boxes(x if reference is None else reference)
        return (x - c[:, None]) * (self.size / s)[:, None, None] + self.centre


@dataclass(frozen=True)
class PW3DFrames:
    """The evaluation frames of every track, in track order, as the methods read them."""

    frames: SplitFrames
    sequence: np.ndarray  # (N,) sequence name per frame
    counts: pd.DataFrame  # per sequence: split, actors, frames, left out, held

    def __len__(self) -> int:
        return len(self.frames)


def segments(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per kept frame, the start and end (rows, end exclusive) of its run of consecutive image frames: a temporal
    method's sequence does not bridge frames left out."""
    n = len(frames)
    cut = np.flatnonzero(np.diff(frames) != 1) + 1
    bounds = np.concatenate([[0], cut, [n]])
    run = np.repeat(np.arange(len(bounds) - 1), np.diff(bounds))
    return bounds[run], bounds[run + 1]


def assemble(tracks: list[PW3DTrack], inputs: list[TrackInputs], mean_pose: np.ndarray,
             target: BoxTarget | None = None) -> PW3DFrames:
    """Tracks, their observed 2D poses (filled) and the chosen normalization -> the frames every method reads."""
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("x", "x_true", "size", "X", "start", "end", "held", "seq",
                                                          "confidence")}
    rows = {}
    offset = 0
    for track, raw in zip(tracks, inputs):
        n = len(track)
        row = rows.setdefault(track.sequence, {"split": track.split, "actors": 0, "frames": 0, "campose_valid False": 0,
                                               "outside image": 0, "no 2D (held)": 0, "joints filled": 0,
                                               "mean pose": 0})
        row["actors"] += 1
        row["frames"] += n
        row["campose_valid False"] += track.campose_invalid
        row["outside image"] += track.outside_image
        if n == 0:
            continue
        filled = fill_missing(raw, track.joints_2d, mean_pose)
        row["no 2D (held)"] += int(filled.no_person.sum())
        row["joints filled"] += int(filled.partial.sum())
        row["mean pose"] += int(filled.mean_pose.sum())
        x, x_true, size = filled.x, track.joints_2d, np.tile(np.asarray(track.image_size, np.float64), (n, 1))
        if target is not None:
            x, x_true = target.apply(x), target.apply(x_true, reference=x)
            size = np.tile(target.image_size, (n, 1))
        start, end = segments(track.frames)
        parts["x"].append(x)
        parts["x_true"].append(x_true)
        parts["size"].append(size)
        parts["X"].append(track.joints)
        parts["start"].append(start + offset)
        parts["end"].append(end + offset)
        parts["held"].append(filled.no_person | filled.partial | filled.mean_pose)
        # 1 for a joint observed in this frame, 0 for one filled from elsewhere (the inputs keep no detector score)
        parts["confidence"].append(raw.present.astype(np.float32))
        parts["seq"].append(np.full(n, track.sequence, dtype=object))
        offset += n
    if offset == 0:
        raise HipartError("no 3DPW frame to evaluate: every frame has campose_valid False or lies outside its image")
    cat = {k: np.concatenate(v) for k, v in parts.items()}
    N = offset
    f32 = np.float32
    frames = SplitFrames(cat["x"].astype(f32), cat["x_true"].astype(f32), cat["size"].astype(f32),
                         np.zeros(N, np.int64), cat["start"], cat["end"], cat["X"].astype(f32),
                         np.zeros((N, 48, 2), f32), np.zeros((N, 96, 2), f32), "", cat["held"],
                         cat["confidence"].astype(f32))
    counts = pd.DataFrame(rows).T
    counts.index.name = "sequence"
    return PW3DFrames(frames, cat["seq"], counts)


# ---------------------------------------------------------------- scoring


def frame_errors(pred: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per frame MPJPE and PA-MPJPE (mm) on the 14 evaluation joints, both poses (N, 17, 3) made pelvis-relative."""
    pred = np.asarray(pred, np.float64)
    truth = np.asarray(truth, np.float64)
    if pred.shape != truth.shape or pred.shape[1:] != (H36M.num_joints, 3):
        raise HipartError(f"predictions have shape {pred.shape}; expected {truth.shape} (frames, 17, 3)")
    p = (pred - pred[:, :1])[:, list(EVAL_JOINTS)]
    g = (truth - truth[:, :1])[:, list(EVAL_JOINTS)]
    return mpjpe(p, g), p_mpjpe(p, g)


def sequence_table(errors: dict[str, np.ndarray], sequence: np.ndarray) -> pd.DataFrame:
    """Mean per sequence (rows, sorted) of each column's per-frame errors, then the mean over all frames."""
    df = pd.DataFrame(errors)
    df["sequence"] = sequence
    table = df.groupby("sequence").mean()
    table.loc[ALL_FRAMES] = df.drop(columns="sequence").mean()
    table.index.name = "sequence"
    return table


def score(preds: dict[str, np.ndarray], frames: PW3DFrames, keep: np.ndarray | None = None
          ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(MPJPE table, PA-MPJPE table): rows sequences + all frames, columns methods; ``keep`` selects frames."""
    keep = np.ones(len(frames), bool) if keep is None else keep
    mp, pa = {}, {}
    for label, X in preds.items():
        mp[label], pa[label] = frame_errors(np.asarray(X)[keep], frames.frames.X_s[keep])
    return sequence_table(mp, frames.sequence[keep]), sequence_table(pa, frames.sequence[keep])


# ---------------------------------------------------------------- the benchmark


def read_occ_list(path: str | Path) -> list[str]:
    """Sequence names, one per line ('#' comments and blank lines skipped, a '.pkl' suffix allowed)."""
    path = Path(path)
    if not path.is_file():
        raise HipartError(f"{path}: no such file; --occ-list takes a text file of 3DPW-OCC sequence names")
    names = [line.split("#", 1)[0].strip().removesuffix(".pkl") for line in path.read_text().splitlines()]
    names = [n for n in names if n]
    if not names:
        raise HipartError(f"{path}: no sequence names in this file; list one 3DPW sequence per line")
    return names


def resolve_twod(twod: str) -> str:
    if twod not in TWOD_SOURCES:
        raise HipartError(f"--twod must be one of {', '.join(TWOD_SOURCES)}, got '{twod}'")
    if twod == "auto":
        return "detector" if importlib.util.find_spec("mediapipe") is not None else "pickle"
    return twod


def default_adapter(bench: BenchRun) -> Path:
    return bench.data_dir / "detections" / "blazepose" / "adapter.npz"


def scored_methods(bench: BenchRun) -> list[LiftMethod]:
    """The run's lifting methods, without the toy experiment's lifters (they read the true dense levels, which
    3DPW does not have)."""
    return [m for m in lift_methods(bench) if "gt-hier" not in m.stage.name]


Predict = Callable[[SplitFrames], dict[str, np.ndarray]]


def load_frames(root: str | Path, truth: PW3DTruth, sequences: dict[str, tuple[str, Path]], source: str,
                mean_pose: np.ndarray, target: BoxTarget | None = None, max_frames: int | None = None,
                detector: Detector | None = None, adapter: JointAdapter | None = None, cache: str | Path | None = None,
                progress: bool = False) -> PW3DFrames:
    """The chosen sequences' evaluation frames: ground truth, the observed 2D from ``source`` (detector, pickle or
    gt; the detector needs ``detector`` and ``adapter``), filled where missing, normalized to ``target`` if given."""
    tracks: list[PW3DTrack] = []
    for name, (split, path) in tqdm(sorted(sequences.items()), desc="3DPW ground truth", unit="seq",
                                    disable=not progress):
        seq = load_3dpw_sequence(path)
        if seq.name != name:
            raise HipartError(f"{path}: the pickle's 'sequence' is '{seq.name}'; name the file {seq.name}.pkl")
        tracks += truth.tracks(seq, split, image_size(root, seq), max_frames)
    inputs = []
    for track in tqdm(tracks, desc=f"3DPW 2D ({source})", unit="track", disable=not progress):
        if source == "detector":
            if detector is None or adapter is None:
                raise HipartError("the detector's 2D needs a detector and its joint adapter")
            inputs.append(detector_inputs(root, track, detector, adapter, cache, progress))
        elif source == "pickle":
            inputs.append(openpose_to_h36m(track.poses_2d))
        elif source == "gt":
            inputs.append(truth_inputs(track))
        else:
            raise HipartError(f"unknown 2D source '{source}'; use detector, pickle or gt")
    return assemble(tracks, inputs, mean_pose, target)


@dataclass
class PW3DScores:
    summary: pd.DataFrame  # rows methods; MPJPE, PA-MPJPE over all test frames (and OCC columns)
    tables: dict[str, tuple[pd.DataFrame, str]]  # stem -> (per-sequence table, title part)


def evaluate(preds: dict[str, np.ndarray], frames: PW3DFrames, test: list[str], occ: list[str] | None = None
             ) -> PW3DScores:
    """Per-sequence and overall MPJPE / PA-MPJPE of each method on the test sequences and, if given, on OCC."""
    mp, pa = score(preds, frames, np.isin(frames.sequence, test))
    summary = pd.DataFrame({"MPJPE": mp.loc[ALL_FRAMES], "PA-MPJPE": pa.loc[ALL_FRAMES]})
    tables = {"3dpw_mpjpe": (mp, "3DPW test: MPJPE (mm) per sequence"),
              "3dpw_pa_mpjpe": (pa, "3DPW test: PA-MPJPE (mm) per sequence")}
    if occ:
        omp, opa = score(preds, frames, np.isin(frames.sequence, occ))
        summary["MPJPE OCC"], summary["PA-MPJPE OCC"] = omp.loc[ALL_FRAMES], opa.loc[ALL_FRAMES]
        tables.update({"3dpw_occ_mpjpe": (omp, "3DPW-OCC: MPJPE (mm) per sequence"),
                       "3dpw_occ_pa_mpjpe": (opa, "3DPW-OCC: PA-MPJPE (mm) per sequence")})
    summary.index.name = "method"
    return PW3DScores(summary, tables)


def run_3dpw(bench: BenchRun, root: str | Path, out: str | Path, smpl_dir: str | Path | None = None,
             regressor: str | Path | None = None, occ_list: str | Path | None = None, twod: str = "auto",
             adapter: str | Path | None = None, normalize: str = "box", max_frames: int | None = None,
             device: torch.device = torch.device("cpu"), progress: bool = True, log: Callable[[str], None] = print,
             predict: Predict | None = None) -> Results:
    """Evaluate the run's methods on 3DPW (see the module docstring); ``predict`` replaces the run's methods."""
    root = Path(root)
    if normalize not in NORMALIZATIONS:
        raise HipartError(f"--normalize must be one of {', '.join(NORMALIZATIONS)}, got '{normalize}'")
    if max_frames is not None and max_frames < 1:
        raise HipartError(f"--frames must be positive, got {max_frames}")
    test = {f.stem: ("test", f) for f in sequence_files(root, "test")}
    occ = find_sequences(root, read_occ_list(occ_list)) if occ_list is not None else {}
    truth = PW3DTruth.from_folder(smpl_dir if smpl_dir is not None else root, regressor)
    source = resolve_twod(twod)
    detector = joint_adapter = adapter_path = None
    if source == "detector":
        adapter_path = Path(adapter) if adapter is not None else default_adapter(bench)
        if not adapter_path.is_file():
            raise HipartError(f"{adapter_path}: no joint adapter; fit one on the run's dataset ('hipart data render' "
                              "then 'hipart detect --data DIR'), give --adapter, or use --twod pickle")
        joint_adapter = JointAdapter.load(adapter_path)
        missing_images = [s for s in sorted({**test, **occ}) if not image_path(root, s, 0).is_file()]
        if missing_images:
            raise HipartError(f"{image_path(root, missing_images[0], 0)} not found ({len(missing_images)} sequences "
                              "without images); the detector needs 3DPW's imageFiles/, or use --twod pickle")
        detector = make_detector("blazepose")
    log(f"3DPW: {len(test)} test sequences" + (f", 3DPW-OCC: {len(occ)} sequences" if occ else "")
        + f"; 2D from {source}; normalization: {normalize}")
    target = BoxTarget.of_dataset(bench.data_dir) if normalize == "box" else None
    frames = load_frames(root, truth, {**test, **occ}, source, mean_training_pose(bench.data_dir), target, max_frames,
                         detector, joint_adapter, Path(out) / "3dpw" / "detections" / "blazepose", progress)
    counts = frames.counts.copy()
    counts.loc["total"] = counts.drop(columns="split").sum()
    counts.loc["total", "split"] = ""
    log(f"{len(frames)} frames; {int(counts.loc['total', 'no 2D (held)'])} without any 2D (held), "
        f"{int(counts.loc['total', 'joints filled'])} with some joints filled, "
        f"{int(counts.loc['total', 'mean pose'])} with the mean pose")

    missing: list[str] = []
    if predict is None:
        methods = scored_methods(bench)
        for m in methods:
            if not m.present:
                log(f"{m.label}: no checkpoint in {m.stage.path}; listed as missing"
                    + (f" (train: {m.train_hint})" if m.train_hint else ""))
        missing = [m.label for m in methods if not m.present]
        preds = {k: v.numpy() for k, v in predict_lifters(bench, methods, frames.frames, device, log).items()}
    else:
        preds = predict(frames.frames)
    scores = evaluate(preds, frames, sorted(test), sorted(occ))
    summary = scores.summary
    for label in missing:
        summary.loc[label] = np.nan

    settings = {"root": str(root), "smpl": truth.sources, "twod": source, "normalize": normalize,
                "max_frames": max_frames, "occ_list": str(occ_list) if occ_list else None,
                "occ_sequences": sorted(occ), "adapter": str(adapter_path) if adapter_path else None,
                "crop_margin": CROP_MARGIN if source == "detector" else None, "eval_joints": list(EVAL_JOINTS),
                "box_target": None if target is None else {"centre": target.centre.tolist(), "size": target.size,
                                                          "image_size": target.image_size.tolist()}}
    results = Results(out, "3dpw", bench, settings)
    what = f"2D: {source}, normalization: {normalize}; methods trained on {bench.data_label}"
    results.table(summary, "3dpw", "3DPW test (14 joints): MPJPE and PA-MPJPE (mm) over all frames"
                  + (", and on 3DPW-OCC" if occ else "") + f"; {what}")
    for stem, (table, title) in scores.tables.items():
        results.table(table, stem, f"{title}; {what}")
    results.table(counts, "3dpw_frames", "3DPW frames per sequence: evaluated, left out, and with held or filled 2D",
                  floatfmt=".0f")
    results.plot(_plot(summary.drop(index=missing)), "3dpw")
    notes = [f"Missing (no checkpoint): {', '.join(missing)}"] if missing else []
    notes += [f"Ground truth: gender-specific SMPL ({', '.join(sorted(truth.sources.values()))}) in camera space, "
              "H36M joints regressed from the mesh; scored on 14 joints (pelvis, spine and nose left out) after "
              "pelvis alignment",
              f"{int(counts.loc['total', 'campose_valid False'])} frames left out for campose_valid False, "
              f"{int(counts.loc['total', 'outside image'])} for lying outside the image",
              f"{int(counts.loc['total', 'no 2D (held)'])} frames without any 2D (held from the nearest frame), "
              f"{int(counts.loc['total', 'joints filled'])} with some joints filled, "
              f"{int(counts.loc['total', 'mean pose'])} using the training mean pose"]
    results.finish(notes)
    return results


def _plot(summary: pd.DataFrame) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(max(5.0, 1.4 * len(summary)), 4))
    cols = [c for c in summary.columns if summary[c].notna().any()]
    width = 0.8 / max(1, len(cols))
    for k, col in enumerate(cols):
        ax.bar(np.arange(len(summary)) + k * width, summary[col].to_numpy(float), width, label=col)
    ax.set_xticks(np.arange(len(summary)) + width * (len(cols) - 1) / 2)
    ax.set_xticklabels(summary.index, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("error (mm), 14 joints")
    ax.set_title("3DPW")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig

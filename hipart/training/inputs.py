"""The frames every stage and method reads, and where their observed sparse 2D pose comes from.

A split's :class:`SplitFrames` pair the *observed* sparse 2D pose x_s (the dataset's true rows, a detector's
keypoints on the rendered images, or whatever a benchmark feeds in: occluded detections, 3DPW) with what training
and scoring need: the true 3D joints, the true dense and fine levels, image sizes, actions and each frame's
sequence. ``--keypoints detected`` makes every stage but MSST (which models the true fine pose) train and evaluate
on detections, as the paper's lifters did on CPN's.

Frames the detector found no person in (none are dropped silently):
- for training they are left out (``drop_undetected``), with the count logged;
- for evaluation their input is *held*: the nearest frame of the same camera sequence that has a detection, as a
  tracker would; a sequence without any detection gets the training split's mean 2D pose. ``held`` marks those
  frames so tables can report them.

Beside x_s, the frames carry the detector's per-joint confidence c (``confidence``), which models built to read it
(``hiarm.confidence``, ``lifter.confidence``, a baseline's ``confidence``) take as input: 1 for true keypoints;
for detections the detector's score and 0 for a joint outside the image (``hipart.occlusion.observed_confidence``);
a frame without a detection carries the confidence of the frame it is held from, 0 everywhere with the mean pose
(:func:`hold_confidence`).

Training frames for the lifters and the lifting baselines can carry occluded copies (``lifter.occlusion_copies``,
:func:`with_occluded_copies`): each copy is every frame once more, occluded and observed as the keypoint occlusion
model says a detector would (positions, confidences, lost frames held like test frames without a detection).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from hipart.data.build import MANIFEST
from hipart.data.dataset import PoseDataset
from hipart.detect.dataset import load_row_detections
from hipart.errors import HipartError
from hipart.io import file_sha256
from hipart.occlusion import OcclusionModel, observed_confidence
from hipart.skeleton import H36M

KEYPOINTS = ("gt", "detected")


@dataclass(frozen=True)
class SplitFrames:
    """One split's frames, in dataset row order (or a selection of them)."""

    x_s: np.ndarray  # (N, 17, 2) px: the observed sparse pose every method reads
    x_s_true: np.ndarray  # (N, 17, 2) px: the dataset's true sparse pose (the toy experiment's gt-hier input)
    image_size: np.ndarray  # (N, 2) px (width, height)
    action: np.ndarray  # (N,) action index
    start: np.ndarray  # (N,) first frame of each frame's sequence (one camera's view of one take)
    end: np.ndarray  # (N,) one past its last frame
    X_s: np.ndarray  # (N, 17, 3) true camera-space joints, mm
    x_d: np.ndarray  # (N, 48, 2) true dense level, px
    x_f: np.ndarray  # (N, 96, 2) true fine level, px
    source: str  # what x_s is ("gt:<manifest sha>", "detected:<sha>", ...): part of cache keys; "" = never cached
    held: np.ndarray  # (N,) True where x_s was held from another frame or is the mean pose (no detection here)
    # (N, 17) float32 in [0, 1]: the detector's per-joint confidence c of x_s (module docstring); 1 for true
    # keypoints. The ``source`` names x_s and c together.
    confidence: np.ndarray

    def __len__(self) -> int:
        return len(self.x_s)

    def with_inputs(self, x_s: np.ndarray, source: str = "", held: np.ndarray | None = None,
                    confidence: np.ndarray | None = None) -> "SplitFrames":
        """The same frames with another observed sparse pose x_s (N, 17, 2) px (e.g. occluded) and its per-joint
        confidence (N, 17) in [0, 1] (default: ones, as for true keypoints: a caller that knows what a detector
        did not see passes it, ``hipart.occlusion.observed_confidence``); uncached unless ``source`` names them."""
        x_s = np.asarray(x_s, dtype=np.float32)
        if x_s.shape != self.x_s.shape or not np.isfinite(x_s).all():
            raise HipartError(f"replacement sparse poses have shape {x_s.shape} (finite values required); these "
                              f"frames need {self.x_s.shape}")
        c = np.ones(x_s.shape[:2], np.float32) if confidence is None else np.asarray(confidence, np.float32)
        if c.shape != x_s.shape[:2] or not (np.isfinite(c).all() and (c >= 0).all() and (c <= 1).all()):
            raise HipartError(f"replacement confidences have shape {c.shape} (values in [0, 1] required); these "
                              f"frames need {x_s.shape[:2]}")
        return replace(self, x_s=x_s, source=source, confidence=c,
                       held=np.zeros(len(self), bool) if held is None else np.asarray(held, bool))

    def select(self, keep: np.ndarray) -> "SplitFrames":
        """The frames where ``keep`` (N,) is True; sequence bounds are renumbered within the selection."""
        keep = np.asarray(keep, bool)
        new_index = np.concatenate([[0], np.cumsum(keep)])  # row r of the selection is old row ... with c[r] before it
        fields = {k: v[keep] for k, v in self.__dict__.items() if isinstance(v, np.ndarray)}
        fields["start"], fields["end"] = new_index[self.start[keep]], new_index[self.end[keep]]
        return replace(self, **fields)


def split_frames(data_dir: str | Path, split: str, keypoints: str = "gt", drop_undetected: bool = False,
                 log: Callable[[str], None] = print) -> SplitFrames:
    """A dataset split's frames with the chosen observed keypoints (``gt``: the true x_s rows, confidence 1;
    ``detected``: the dataset's detections from ``hipart detect --data``, with their confidence as the module
    docstring says)."""
    if keypoints not in KEYPOINTS:
        raise HipartError(f"--keypoints must be one of {', '.join(KEYPOINTS)}, got '{keypoints}'")
    ds = PoseDataset(data_dir, split, fields=("x_s", "x_d", "x_f", "X_s"), normalize=False)
    a = ds.arrays()
    start, end = ds.sequence_bounds()
    n = len(a["action"])
    frames = SplitFrames(a["x_s"].astype(np.float32), a["x_s"].astype(np.float32), a["image_size"].astype(np.float32), a["action"], start, end,
                         a["X_s"].astype(np.float32), a["x_d"].astype(np.float32), a["x_f"].astype(np.float32),
                         f"gt:{file_sha256(Path(data_dir) / MANIFEST)}", np.zeros(n, bool),
                         np.ones((n, H36M.num_joints), np.float32))
    if keypoints == "gt":
        return frames
    det = load_row_detections(data_dir, split)
    found = det["detected"] & det["has_image"]
    source = f"detected:{det['sha256']}"
    # the detector's confidence, 0 outside the image (a NaN joint of a frame without a detection counts as outside)
    confidence = observed_confidence(det["confidence"], det["x_s"], frames.image_size)
    if drop_undetected:
        if (~found).any():
            log(f"{split}: {int((~found).sum())} of {len(found)} frames have no detection (no person found, or not "
                "rendered); left out of training")
        if not found.any():
            raise HipartError(f"{data_dir}: no {split} frame has a detection; run 'hipart data render' and "
                              "'hipart detect' on it")
        return frames.select(found).with_inputs(det["x_s"][found], source, confidence=confidence[found])
    if not det["has_image"].all():
        raise HipartError(f"{data_dir}: {int((~det['has_image']).sum())} {split} frames were not rendered, so they "
                          f"have no detection to evaluate on; render the whole {split} split ('hipart data render "
                          f"--data {data_dir} --split {split}') and detect again")
    mean_pose = mean_training_pose(data_dir)
    x_s, held = hold_missing(det["x_s"], found, start, end, mean_pose)
    if held.any():
        log(f"{split}: {int(held.sum())} of {len(held)} frames have no detection; their input is held from the "
            "nearest detected frame of the sequence (or the mean pose)")
    # a held frame carries the confidence of the detection it holds (0 for the mean pose)
    return frames.with_inputs(x_s, source, held, hold_confidence(confidence, found, start, end))


def held_sources(found: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """(N,) the frame each frame's input comes from: itself where ``found``, else the nearest found frame of its
    sequence (``start``, ``end`` (N,)), the earlier one on a tie; -1 where the sequence has none."""
    source = np.arange(len(found))
    for i in np.flatnonzero(~found):
        seq = np.arange(start[i], end[i])
        have = seq[found[seq]]
        source[i] = have[np.argmin(np.abs(have - i))] if len(have) else -1
    return source


def hold_missing(x_s: np.ndarray, found: np.ndarray, start: np.ndarray, end: np.ndarray, fallback: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Fill frames without a detection: (N, 17, 2) with the nearest detected frame of the same sequence (the
    earlier one on a tie, :func:`held_sources`), or ``fallback`` (17, 2) when the sequence has none; and the (N,)
    mask of filled frames."""
    source = held_sources(found, start, end)
    out = np.array(x_s, dtype=np.float32, copy=True)
    out[~found] = np.where((source[~found] >= 0)[:, None, None], out[np.maximum(source[~found], 0)], fallback)
    return out, ~found


def hold_confidence(confidence: np.ndarray, found: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """The confidence (N, 17) that goes with :func:`hold_missing`'s poses: a held frame carries the confidence of
    the frame its pose comes from (the score describes the pose it accompanies; measured better than 0, which
    throws away that a neighbour's detection is nearly as good as the frame's own), 0 where the sequence had no
    detection (the mean pose)."""
    source = held_sources(found, start, end)
    c = np.asarray(confidence, np.float32)
    return np.where((source >= 0)[:, None], c[np.maximum(source, 0)], np.float32(0))


def mean_training_pose(data_dir: str | Path) -> np.ndarray:
    """The training split's mean true sparse 2D pose (17, 2) px: the input given where nothing was detected."""
    manifest_stats = PoseDataset(data_dir, "train", fields=("x_s",), normalize=False, verify=False)
    x = manifest_stats.arrays()["x_s"]
    return x.reshape(-1, H36M.num_joints, 2).mean(axis=0).astype(np.float32)


def with_occluded_copies(frames: SplitFrames, model: OcclusionModel, copies: int, seed: int,
                         max_ratio: float = 0.5) -> SplitFrames:
    """The frames followed by ``copies`` occluded copies of them (``OcclusionModel.augment``: per frame no
    occlusion, a mask or a crop of a ratio up to ``max_ratio``). A copy keeps the frames' truth; its x_s and
    confidence are what a detector would report (a detector's own scores stay on visible joints when the frames
    are detections, true keypoints' visible joints get drawn scores), and a frame the detector would lose is held
    from the nearest kept frame of its sequence with that frame's confidence, as :func:`split_frames` holds test
    frames. Deterministic in ``seed``; the source (a cache key) names the copies, the seed and the model."""
    if copies == 0:
        return frames
    rng = np.random.default_rng(seed)
    detected = not frames.source.startswith("gt:")
    n = len(frames)
    parts = [frames]
    for k in range(copies):
        seen = model.augment(frames.x_s.astype(np.float64), rng, max_ratio,
                             confidence=frames.confidence if detected else None)
        kept = ~seen.lost
        x_s, held = hold_missing(seen.x.astype(np.float32), kept, frames.start, frames.end, frames.x_s.mean(axis=0))
        c = hold_confidence(seen.confidence, kept, frames.start, frames.end)
        parts.append(replace(frames.with_inputs(x_s, held=held, confidence=c),
                             start=frames.start + (k + 1) * n, end=frames.end + (k + 1) * n))
    fields = {name: np.concatenate([getattr(p, name) for p in parts]) for name, value in frames.__dict__.items()
              if isinstance(value, np.ndarray)}
    kind, _, rest = frames.source.partition(":")
    source = f"{kind}-occluded:{rest}:{copies}:{seed}:{model.fingerprint()}" if frames.source else ""
    return replace(frames, source=source, **fields)

"""From a detector's keypoints to the 17 Human3.6M joints: one small linear map per joint, fitted on clean renders.

BlazePose's 33 landmarks are not Human3.6M's joints (no pelvis, spine, thorax or head top; its hips and shoulders
sit elsewhere than the rig's bone heads). Per H36M joint j the adapter reads a few *source* landmarks (the ones
that joint lies among, e.g. both hips and shoulders for the spine) in a normalized frame: origin at the midpoint
of the hips, unit length the diagonal of the landmarks' bounding box. There

    y_j = W_j @ [z_s1, z_s2, ..., 1]        (W_j: 2 x (2 * sources + 1))

is fitted by ridge-regularised least squares on pairs (detected landmarks, the row's x_s) from the training split.
Confidence of joint j = the mean detector confidence of its *primary* sources (the landmarks it mostly sits on).
The fit is stored (``.npz``) with the dataset's detections and can be applied to any images (real videos too).
One such fit, made on the default data's renders, ships in the package (:mod:`hipart.detect.packaged`); its file
also holds its provenance (a JSON string: which dataset, how many frames, the fit's error).
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hipart.detect.base import Detections
from hipart.errors import HipartError
from hipart.io import atomic_path
from hipart.skeleton import H36M

# H36M joint -> (primary landmarks, further landmarks it is read from), BlazePose indices (see BLAZEPOSE_NAMES).
BLAZEPOSE_SOURCES: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "Pelvis": ((23, 24), (11, 12)),
    "RHip": ((24,), (23, 12, 26)),
    "RKnee": ((26,), (24, 28)),
    "RAnkle": ((28,), (30, 32, 26)),
    "LHip": ((23,), (24, 11, 25)),
    "LKnee": ((25,), (23, 27)),
    "LAnkle": ((27,), (29, 31, 25)),
    "Spine": ((11, 12, 23, 24), ()),
    "Thorax": ((11, 12), (23, 24, 0)),
    "Nose": ((0, 7, 8), (9, 10, 11, 12)),
    "Head": ((0, 7, 8), (1, 2, 3, 4, 5, 6, 11, 12)),
    "LShoulder": ((11,), (12, 13)),
    "LElbow": ((13,), (11, 15)),
    "LWrist": ((15,), (13, 17, 19, 21)),
    "RShoulder": ((12,), (11, 14)),
    "RElbow": ((14,), (12, 16)),
    "RWrist": ((16,), (14, 18, 20, 22)),
}
ORIGIN = (23, 24)  # the normalized frame's origin: midpoint of the detector's hips
RIDGE = 1e-4  # relative to the mean squared normalized input; keeps rarely-varying inputs from exploding


def normalizing_frame(keypoints: np.ndarray, origin: tuple[int, ...] = ORIGIN) -> tuple[np.ndarray, np.ndarray]:
    """Per frame the origin (N, 2) px and scale (N,) px: hips midpoint and the keypoints' box diagonal."""
    centre = keypoints[:, list(origin)].mean(axis=1)
    scale = np.full(len(keypoints), np.nan)
    seen = np.isfinite(keypoints).any(axis=(1, 2))  # frames without a person have no keypoints at all
    k = keypoints[seen]
    scale[seen] = np.linalg.norm(np.nanmax(k, axis=1) - np.nanmin(k, axis=1), axis=-1)
    return centre, np.where(scale > 0, scale, np.nan)


@dataclass
class JointAdapter:
    """Fitted maps from a detector's keypoints to the 17 H36M joints (see the module docstring)."""

    detector: str
    sources: tuple[tuple[int, ...], ...]  # per H36M joint, primary then further source landmarks
    primary: tuple[int, ...]  # per H36M joint, how many of its sources are primary
    weights: tuple[np.ndarray, ...]  # per H36M joint, (2, 2 * len(sources) + 1)
    origin: tuple[int, ...] = ORIGIN
    fitted_on: int = 0  # frames
    provenance: dict[str, Any] | None = None  # where the fit came from (the packaged adapter records it)

    @classmethod
    def layout(cls, detector: str = "blazepose") -> tuple[tuple[tuple[int, ...], ...], tuple[int, ...]]:
        if detector != "blazepose":
            raise HipartError(f"no joint adapter layout for detector '{detector}'")
        table = [BLAZEPOSE_SOURCES[name] for name in H36M.names]
        return tuple(p + f for p, f in table), tuple(len(p) for p, _ in table)

    @staticmethod
    def _design(keypoints: np.ndarray, sources: tuple[int, ...], centre: np.ndarray, scale: np.ndarray) -> np.ndarray:
        z = (keypoints[:, list(sources)] - centre[:, None]) / scale[:, None, None]
        return np.concatenate([z.reshape(len(z), -1), np.ones((len(z), 1))], axis=1)

    @classmethod
    def fit(cls, detections: Detections, targets: np.ndarray, detector: str = "blazepose",
            ridge: float = RIDGE) -> "JointAdapter":
        """Fit on frames with a detection: detector keypoints (N, K, 2) px and true joints ``targets`` (N, 17, 2) px."""
        targets = np.asarray(targets, dtype=np.float64)
        if targets.shape != (len(detections), H36M.num_joints, 2):
            raise HipartError(f"adapter targets have shape {targets.shape}, expected ({len(detections)}, 17, 2)")
        keypoints = detections.keypoints.astype(np.float64)
        centre, scale = normalizing_frame(keypoints)
        use = detections.detected & np.isfinite(scale) & np.isfinite(targets).all(axis=(1, 2))
        sources, primary = cls.layout(detector)
        if use.sum() < 2 * max(2 * len(s) + 1 for s in sources):
            raise HipartError(f"only {int(use.sum())} frames with a detection to fit the joint adapter on; render "
                              "and detect more training images")
        weights = []
        for j, src in enumerate(sources):
            A = cls._design(keypoints[use], src, centre[use], scale[use])
            y = (targets[use, j] - centre[use]) / scale[use, None]
            lam = ridge * len(A) * float(np.mean(A[:, :-1] ** 2))
            reg = lam * np.eye(A.shape[1])
            reg[-1, -1] = 0.0  # the offset is not shrunk
            weights.append(np.linalg.solve(A.T @ A + reg, A.T @ y).T)
        return cls(detector, sources, primary, tuple(weights), ORIGIN, int(use.sum()))

    def apply(self, detections: Detections) -> Detections:
        """Detector keypoints -> 17 H36M joints (N, 17, 2) px with confidences; NaN where nothing was detected."""
        keypoints = detections.keypoints.astype(np.float64)
        n = len(detections)
        centre, scale = normalizing_frame(keypoints, self.origin) if n else (np.zeros((0, 2)), np.zeros(0))
        joints = np.full((n, H36M.num_joints, 2), np.nan)
        confidence = np.zeros((n, H36M.num_joints))
        ok = detections.detected & np.isfinite(scale)
        for j, (src, w) in enumerate(zip(self.sources, self.weights)):
            if ok.any():
                A = self._design(keypoints[ok], src, centre[ok], scale[ok])
                joints[ok, j] = (A @ w.T) * scale[ok, None] + centre[ok]
                confidence[ok, j] = detections.confidence[ok][:, list(src[: self.primary[j]])].mean(axis=1)
        return Detections(joints.astype(np.float32), confidence.astype(np.float32), ok.copy(), H36M.names)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        arrays = {f"weights_{j}": w for j, w in enumerate(self.weights)}
        arrays.update({f"sources_{j}": np.asarray(s) for j, s in enumerate(self.sources)})
        arrays.update(primary=np.asarray(self.primary), origin=np.asarray(self.origin),
                      detector=np.asarray(self.detector), fitted_on=np.asarray(self.fitted_on),
                      joints=np.asarray(H36M.names))
        if self.provenance is not None:
            arrays["provenance"] = np.asarray(json.dumps(self.provenance, sort_keys=True))
        with atomic_path(path) as tmp:
            np.savez(tmp, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "JointAdapter":
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                n = len(z["primary"])
                if tuple(str(s) for s in z["joints"]) != H36M.names:
                    raise ValueError("joints are not the 17 Human3.6M joints in hipart's order")
                provenance = json.loads(str(z["provenance"])) if "provenance" in z.files else None
                return cls(str(z["detector"]), tuple(tuple(int(i) for i in z[f"sources_{j}"]) for j in range(n)),
                           tuple(int(p) for p in z["primary"]), tuple(z[f"weights_{j}"] for j in range(n)),
                           tuple(int(i) for i in z["origin"]), int(z["fitted_on"]), provenance)
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise HipartError(f"{path}: not a hipart joint adapter ({exc}); fit one with 'hipart detect --data "
                              "DIR' on a rendered dataset") from None

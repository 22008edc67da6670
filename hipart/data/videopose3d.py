"""VideoPose3D's Human3.6M archives: data_3d_h36m.npz and data_2d_h36m_{gt,cpn_ft_h36m_dbb,...}.npz, read, and
2D detections written in the same layout (``hipart detect``).

- 3D: ``positions_3d`` = {subject: {action: (N, 32, 3) world metres}}; we keep the 17 joints of
  ``hipart.skeleton.H36M_FROM_32`` and convert to millimetres, hipart's unit.
- 2D: ``positions_2d`` = {subject: {action: [4 x (N, 17, 2) px]}} (one array per camera, in the order of the
  calibration file) and ``metadata`` = {layout_name, num_joints, keypoints_symmetry}.
- Written detections add, in the same nesting, ``confidence_2d`` (N, 17), ``detected_2d`` (N,) bool and
  ``frames_2d`` (N,) frame numbers; frames without a person are NaN in ``positions_2d``. A camera without video
  gets an empty (0, 17, 2) array; synthetic actions are named like Human3.6M's videos, "<Action> <subaction>".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hipart.errors import HipartError
from hipart.io import atomic_path
from hipart.pickles import load_npz_entry
from hipart.skeleton import H36M, H36M_ACTIONS, H36M_FROM_32
from hipart.units import MM_PER_METRE

Poses = dict[str, dict[str, np.ndarray]]
MOCAP_JOINTS = 32  # joints of Human3.6M's motion-capture skeleton, as VideoPose3D stores them


def _load_npz_item(path: str | Path, key: str, expected: str) -> tuple[Any, Any]:
    value, keys = load_npz_entry(path, key, f"VideoPose3D's {expected}")
    meta = load_npz_entry(path, "metadata", expected)[0] if "metadata" in keys else None
    if not isinstance(value, dict):
        raise HipartError(f"{path}: '{key}' holds {type(value).__name__}, expected {{subject: {{action: ...}}}}")
    return value, meta


def load_positions_3d(path: str | Path) -> Poses:
    """{subject: {action: (N, 17, 3) world mm}} from data_3d_h36m.npz."""
    raw, _ = _load_npz_item(path, "positions_3d", "data_3d_h36m.npz")
    out: Poses = {}
    for subject, actions in raw.items():
        out[subject] = {}
        for action, arr in actions.items():
            arr = np.asarray(arr, dtype=np.float64)
            if arr.ndim != 3 or arr.shape[1:] not in ((MOCAP_JOINTS, 3), (H36M.num_joints, 3)):
                raise HipartError(f"{path}: {subject}/{action} has shape {arr.shape}, expected (N, 32, 3) metres")
            if arr.shape[1] == MOCAP_JOINTS:
                arr = arr[:, list(H36M_FROM_32)]
            out[subject][action] = arr * MM_PER_METRE
    return out


def load_positions_2d(path: str | Path) -> tuple[dict[str, dict[str, list[np.ndarray]]], dict[str, Any]]:
    """({subject: {action: [per camera (N, 17, 2) px]}}, metadata) from a data_2d_h36m_*.npz archive."""
    raw, meta = _load_npz_item(path, "positions_2d", "data_2d_h36m_*.npz")
    meta = dict(meta or {})
    sym = meta.get("keypoints_symmetry")
    if sym is not None:
        left, right = (tuple(int(i) for i in s) for s in sym)
        if (left, right) != (H36M.joints_left, H36M.joints_right):
            raise HipartError(f"{path}: keypoints_symmetry {sym} is not the 17-joint Human3.6M layout; "
                              "convert the detections to H36M joint order first")
    out: dict[str, dict[str, list[np.ndarray]]] = {}
    for subject, actions in raw.items():
        out[subject] = {}
        for action, per_cam in actions.items():
            arrays = [np.asarray(a, dtype=np.float64) for a in per_cam]
            for i, a in enumerate(arrays):
                if a.ndim != 3 or a.shape[1:] != (H36M.num_joints, 2):
                    raise HipartError(f"{path}: {subject}/{action} camera {i} has shape {a.shape}, expected (N, 17, 2) px")
            out[subject][action] = arrays
    return out, meta


def paired_detections(detections: str, truth: str) -> tuple[np.ndarray, np.ndarray]:
    """Stack every subject / action / camera present in both VideoPose3D 2D archives (detections, e.g. CPN, and
    ground truth), each trimmed to the shorter of the two (VideoPose3D does the same)."""
    det, _ = load_positions_2d(detections)
    gt, _ = load_positions_2d(truth)
    pairs = [(a[:n], b[:n]) for s in sorted(set(det) & set(gt)) for act in sorted(set(det[s]) & set(gt[s]))
             for a, b in zip(det[s][act], gt[s][act]) for n in [min(len(a), len(b))]]
    if not pairs:
        raise HipartError(f"{detections} and {truth} share no subject/action; give the detections and the ground "
                          "truth 2D archive of the same dataset")
    return np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])


# ---------------------------------------------------------------- writing (detections in this layout)

NUM_CAMERAS = 4


def synthetic_action_name(action: int | str, subaction: int) -> str:
    name = H36M_ACTIONS[action] if isinstance(action, (int, np.integer)) else action
    return f"{name} {int(subaction)}"


def metadata(detector: str, note: str) -> dict[str, Any]:
    return {"layout_name": "h36m", "num_joints": H36M.num_joints,
            "keypoints_symmetry": [list(H36M.joints_left), list(H36M.joints_right)], "detector": detector,
            "note": note}


def write_archive(path: str | Path, sequences: dict[tuple[str, str, int], dict[str, np.ndarray]], detector: str,
                  note: str) -> Path:
    """``sequences[(subject, action name, camera index)]`` = {x_s, confidence, detected, frame} -> the archive."""
    nested: dict[str, dict[str, dict[str, list[np.ndarray]]]] = {
        key: {} for key in ("positions_2d", "confidence_2d", "detected_2d", "frames_2d")}
    fields = {"positions_2d": ("x_s", (H36M.num_joints, 2), np.float32),
              "confidence_2d": ("confidence", (H36M.num_joints,), np.float32),
              "detected_2d": ("detected", (), bool), "frames_2d": ("frame", (), np.int32)}
    for subject, action in sorted({(s, a) for s, a, _ in sequences}):
        for key, (field, shape, dtype) in fields.items():
            per_cam = []
            for cam in range(NUM_CAMERAS):
                seq = sequences.get((subject, action, cam))
                per_cam.append(np.zeros((0, *shape), dtype) if seq is None else np.asarray(seq[field], dtype))
            nested[key].setdefault(subject, {})[action] = per_cam
    path = Path(path)
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, **{k: np.array(v, dtype=object) for k, v in nested.items()},
                            metadata=np.array(metadata(detector, note), dtype=object))
    return path


def save_positions_2d(path: str | Path, per_split: dict[str, dict[str, np.ndarray]], detector: str) -> Path:
    """Row-aligned detections of the dataset's splits (with their subject/action/subaction/camera/frame fields)."""
    sequences: dict[tuple[str, str, int], dict[str, list[np.ndarray]]] = {}
    for arrays in per_split.values():
        keep = arrays["has_image"]
        keys = np.stack([arrays[k][keep] for k in ("subject", "action", "subaction", "camera")], axis=1)
        uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
        for u, (s, a, sub, cam) in enumerate(uniq):
            sel = np.flatnonzero(keep)[inverse.reshape(-1) == u]
            sel = sel[np.argsort(arrays["frame"][sel], kind="stable")]
            sequences[(f"S{int(s)}", synthetic_action_name(int(a), int(sub)), int(cam))] = {
                k: arrays[k][sel] for k in ("x_s", "confidence", "detected", "frame")}
    return write_archive(path, sequences, detector, "renders of the embedded synthetic Anny capture")

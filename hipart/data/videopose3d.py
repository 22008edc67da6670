"""VideoPose3D's Human3.6M archives: data_3d_h36m.npz and data_2d_h36m_{gt,cpn_ft_h36m_dbb,...}.npz.

- 3D: ``positions_3d`` = {subject: {action: (N, 32, 3) world metres}}; we keep the 17 joints of
  ``hipart.skeleton.H36M_FROM_32`` and convert to millimetres, hipart's unit.
- 2D: ``positions_2d`` = {subject: {action: [4 x (N, 17, 2) px]}} (one array per camera, in the order of the
  calibration file) and ``metadata`` = {layout_name, num_joints, keypoints_symmetry}.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hipart.errors import HipartError
from hipart.pickles import load_npz_entry
from hipart.skeleton import H36M, H36M_FROM_32
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

"""Detections in VideoPose3D's 2D layout, readable by :func:`hipart.data.videopose3d.load_positions_2d`.

``positions_2d[subject][action]`` is a list with one (N, 17, 2) px array per camera, in the calibration's camera
order (an empty (0, 17, 2) array for a camera without video). Beside it, in the same nesting, ``confidence_2d``
(N, 17), ``detected_2d`` (N,) bool and ``frames_2d`` (N,) frame numbers; frames without a person are NaN in
``positions_2d`` and False in ``detected_2d``. ``metadata`` names the layout (h36m, 17 joints, the left/right
symmetry) and the detector. Synthetic actions are named like Human3.6M's videos: "<Action> <subaction>".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hipart.io import atomic_path
from hipart.skeleton import H36M, H36M_ACTIONS

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

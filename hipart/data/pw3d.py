"""3DPW sequence pickles (sequenceFiles/{train,validation,test}/*.pkl, Python 2, latin1).

Each file holds one sequence with one or two actors; per-actor fields are lists with one entry per actor.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from hipart.pickles import load_pickle
from hipart.errors import HipartError

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class PW3DSequence:
    name: str
    genders: tuple[str, ...]  # 'm' / 'f' per actor
    betas: tuple[np.ndarray, ...]  # (10,) per actor
    poses: tuple[np.ndarray, ...]  # (N, 72) SMPL axis-angle per actor
    trans: tuple[np.ndarray, ...]  # (N, 3) metres per actor
    joints_3d: tuple[np.ndarray, ...]  # (N, 24, 3) SMPL joints, world metres, per actor
    poses_2d: tuple[np.ndarray, ...]  # (N, 18, 3) COCO-18 (x, y, confidence) px per actor
    pose_valid: tuple[np.ndarray, ...]  # (N,) bool: camera pose aligned to the image, per actor
    cam_poses: np.ndarray  # (N, 4, 4) world -> camera
    cam_intrinsics: np.ndarray  # (3, 3)
    img_frame_ids: np.ndarray  # (N,)

    @property
    def num_frames(self) -> int:
        return self.cam_poses.shape[0]

    @property
    def num_actors(self) -> int:
        return len(self.poses)


def load_3dpw_sequence(path: str | Path) -> PW3DSequence:
    raw = load_pickle(path, "3DPW sequence pickle")
    if not isinstance(raw, dict):
        raise HipartError(f"{path}: expected a dict in a 3DPW sequence pickle, found {type(raw).__name__}")

    def field(*names: str) -> object:
        for n in names:
            if n in raw:
                return raw[n]
        raise HipartError(f"{path}: missing key '{names[0]}'; is this a 3DPW sequenceFiles pickle?")

    cam_poses = np.asarray(field("cam_poses"), dtype=np.float64)
    if cam_poses.ndim != 3 or cam_poses.shape[1:] != (4, 4):
        raise HipartError(f"{path}: cam_poses has shape {cam_poses.shape}, expected (N, 4, 4)")
    N = cam_poses.shape[0]
    K = np.asarray(field("cam_intrinsics"), dtype=np.float64)
    if K.shape != (3, 3):
        raise HipartError(f"{path}: cam_intrinsics has shape {K.shape}, expected (3, 3)")

    def per_actor(names: tuple[str, ...], shape: tuple[int, ...], dtype: type = np.float64) -> tuple[np.ndarray, ...]:
        values = field(*names)
        if not isinstance(values, (list, tuple)) or not values:
            raise HipartError(f"{path}: '{names[0]}' must be a non-empty list with one entry per actor")
        out = []
        for i, v in enumerate(values):
            a = np.asarray(v, dtype=dtype)
            if a.size == int(np.prod(shape)):
                a = a.reshape(shape)
            if a.shape != shape:
                raise HipartError(f"{path}: '{names[0]}' of actor {i} has shape {a.shape}, expected {shape}")
            out.append(a)
        return tuple(out)

    poses = per_actor(("poses",), (N, 72))
    actors = len(poses)
    seq = PW3DSequence(
        name=str(field("sequence")),
        genders=tuple(str(g) for g in field("genders", "gender")),
        betas=_betas(field("betas"), path),
        poses=poses,
        trans=per_actor(("trans",), (N, 3)),
        joints_3d=tuple(j.reshape(N, 24, 3) for j in per_actor(("jointPositions",), (N, 72))),
        poses_2d=tuple(p.transpose(0, 2, 1) for p in per_actor(("poses2d", "poses2D"), (N, 3, 18))),
        pose_valid=per_actor(("campose_valid",), (N,), bool),
        cam_poses=cam_poses,
        cam_intrinsics=K,
        img_frame_ids=np.asarray(field("img_frame_ids")).reshape(-1),
    )
    for name in ("trans", "joints_3d", "poses_2d", "pose_valid", "betas", "genders"):
        if len(getattr(seq, name)) != actors:
            raise HipartError(f"{path}: '{name}' lists {len(getattr(seq, name))} actors but 'poses' lists {actors}")
    return seq


def _betas(values: object, path: str | Path) -> tuple[np.ndarray, ...]:
    if not isinstance(values, (list, tuple)) or not values:
        raise HipartError(f"{path}: 'betas' must be a non-empty list with one entry per actor")
    out = []
    for i, b in enumerate(values):
        a = np.asarray(b, dtype=np.float64).reshape(-1)
        if a.size < 10:
            raise HipartError(f"{path}: betas of actor {i} has {a.size} values, expected at least 10")
        out.append(a[:10])
    return tuple(out)


def iter_3dpw(root: str | Path, split: str = "test") -> Iterator[PW3DSequence]:
    """Sequences of one split from a 3DPW root (holding sequenceFiles/) or the sequenceFiles folder itself."""
    if split not in SPLITS:
        raise HipartError(f"unknown 3DPW split '{split}'; use one of {', '.join(SPLITS)}")
    root = Path(root)
    folder = next((d for d in (root / "sequenceFiles" / split, root / split) if d.is_dir()), None)
    if folder is None:
        raise HipartError(f"{root}: no sequenceFiles/{split}/ folder; point at the 3DPW root")
    files = sorted(folder.glob("*.pkl"))
    if not files:
        raise HipartError(f"{folder}: no .pkl sequence files")
    for f in files:
        yield load_3dpw_sequence(f)

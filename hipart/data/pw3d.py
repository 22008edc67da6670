"""3DPW: sequence pickles (sequenceFiles/{train,validation,test}/*.pkl, Python 2, latin1) and their ground truth.

Each file holds one sequence with one or two actors; per-actor fields are lists with one entry per actor. Images
are ``imageFiles/<sequence>/image_XXXXX.jpg``, one per entry of ``cam_poses``.

Ground truth as Pose2Mesh evaluates 3DPW (``data/3dpw2coco.py`` and ``data/PW3D/dataset.py`` of
hongsukchoi/Pose2Mesh_RELEASE): each actor's SMPL fit (poses, betas, trans) is posed with the SMPL model of the
actor's gender ('f' female, 'm' male), moved into camera space with that frame's ``cam_poses`` (world -> camera),
and the 17 Human3.6M joints are regressed from the camera-space mesh with ``J_regressor_h36m_correct.npy``.
Frames whose ``campose_valid`` is False for the actor, or where no ground-truth joint projects into the image,
are left out (Pose2Mesh skips both; it tests the 24 SMPL ``jointPositions``, here the 17 regressed joints) and
counted. Pose2Mesh folds the camera into the root orientation and
translation using the neutral model's root joint; posing in world space and then transforming is the exact
version of the same mesh (they differ by the neutral vs gendered root joint offset, which root-relative errors
do not see).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Mapping

import numpy as np
import torch
from PIL import Image

from hipart.body.smpl import SMPL
from hipart.body.smpl_model import (SMPLModelData, find_joint_regressor, find_smpl_model, load_joint_regressor,
                                     load_smpl_model)
from hipart.camera import project_pinhole
from hipart.pickles import load_pickle
from hipart.errors import HipartError
from hipart.skeleton import H36M
from hipart.units import MM_PER_METRE

SPLITS = ("train", "validation", "test")
GENDERS = {"m": "male", "f": "female"}  # 3DPW's gender codes -> SMPL model


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


def sequence_files(root: str | Path, split: str = "test") -> list[Path]:
    """The sequence pickles of one split from a 3DPW root (holding sequenceFiles/) or the sequenceFiles folder."""
    if split not in SPLITS:
        raise HipartError(f"unknown 3DPW split '{split}'; use one of {', '.join(SPLITS)}")
    root = Path(root)
    if not root.is_dir():
        raise HipartError(f"{root}: no such folder; point at the 3DPW root (holding sequenceFiles/ and imageFiles/)")
    folder = next((d for d in (root / "sequenceFiles" / split, root / split) if d.is_dir()), None)
    if folder is None:
        raise HipartError(f"{root}: no sequenceFiles/{split}/ folder; point at the 3DPW root")
    files = sorted(folder.glob("*.pkl"))
    if not files:
        raise HipartError(f"{folder}: no .pkl sequence files")
    return files


def iter_3dpw(root: str | Path, split: str = "test") -> Iterator[PW3DSequence]:
    """Sequences of one split from a 3DPW root (holding sequenceFiles/) or the sequenceFiles folder itself."""
    for f in sequence_files(root, split):
        yield load_3dpw_sequence(f)


def find_sequences(root: str | Path, names: Iterable[str]) -> dict[str, tuple[str, Path]]:
    """Sequence name -> (split, pickle) for every sequence a name selects, looked up in every split present.

    A name is a sequence ('courtyard_backpack_00') or a sequence without its take number ('courtyard_backpack',
    all its takes), the form in which the 3DPW-OCC list is usually given."""
    root = Path(root)
    available: dict[str, tuple[str, Path]] = {}
    for split in SPLITS:
        for folder in (root / "sequenceFiles" / split, root / split):
            available.update({f.stem: (split, f) for f in sorted(folder.glob("*.pkl"))})
    out: dict[str, tuple[str, Path]] = {}
    unknown = []
    for name in names:
        hits = [s for s in available if s == name or s.rsplit("_", 1)[0] == name]
        if not hits:
            unknown.append(name)
        out.update({s: available[s] for s in sorted(hits)})
    if unknown:
        raise HipartError(f"{root}: no sequence named {', '.join(unknown)} in sequenceFiles/{{{','.join(SPLITS)}}}; "
                          "check the list's names")
    return out


def image_path(root: str | Path, sequence: str, frame: int) -> Path:
    return Path(root) / "imageFiles" / sequence / f"image_{int(frame):05d}.jpg"


def image_size(root: str | Path, seq: PW3DSequence) -> tuple[int, int]:
    """(width, height) px of a sequence's images: the first image's header, or twice the principal point when
    the images are absent (3DPW's principal points sit at the image centres)."""
    path = image_path(root, seq.name, 0)
    if path.is_file():
        try:
            with Image.open(path) as im:
                return int(im.width), int(im.height)
        except (OSError, ValueError) as exc:
            raise HipartError(f"{path}: unreadable image ({exc}); check the file") from None
    return int(round(2 * seq.cam_intrinsics[0, 2])), int(round(2 * seq.cam_intrinsics[1, 2]))


@dataclass(frozen=True)
class PW3DTrack:
    """One actor of one sequence: the frames kept for evaluation and their ground truth."""

    sequence: str
    split: str
    actor: int
    frames: np.ndarray  # (n,) image frame indices kept
    joints: np.ndarray  # (n, 17, 3) Human3.6M joints, camera space, mm
    joints_2d: np.ndarray  # (n, 17, 2) their projection, px
    poses_2d: np.ndarray  # (n, 18, 3) the pickle's COCO-18 2D (x, y, confidence), px
    image_size: tuple[int, int]  # (width, height) px
    campose_invalid: int  # frames left out: campose_valid False
    outside_image: int  # frames left out: no joint projects into the image

    def __len__(self) -> int:
        return len(self.frames)


class PW3DTruth:
    """The 17 Human3.6M joints of 3DPW's SMPL fits: gender-specific SMPL models and a (17, V) vertex regressor."""

    def __init__(self, models: Mapping[str, SMPLModelData], regressor: np.ndarray, batch: int = 256) -> None:
        missing = [g for g in GENDERS.values() if g not in models]
        if missing:
            raise HipartError(f"3DPW ground truth needs the {' and '.join(missing)} SMPL model")
        sizes = {g: m.num_vertices for g, m in models.items()}
        if len(set(sizes.values())) != 1:
            raise HipartError(f"the SMPL models differ in vertex count ({sizes}); use one SMPL release")
        V = next(iter(sizes.values()))
        if np.shape(regressor) != (H36M.num_joints, V):
            raise HipartError(f"H36M joint regressor has shape {np.shape(regressor)}; expected "
                              f"({H36M.num_joints}, {V})")
        self.models = {g: SMPL(m, dtype=torch.float64) for g, m in models.items()}
        self.regressor = torch.as_tensor(np.asarray(regressor), dtype=torch.float64)
        self.batch = batch
        self.sources = {g: m.source for g, m in models.items()}

    @classmethod
    def from_folder(cls, smpl_dir: str | Path, regressor: str | Path | None = None) -> "PW3DTruth":
        """The female and male SMPL pickles found below ``smpl_dir``; the regressor given or found there."""
        smpl_dir = Path(smpl_dir)
        if not smpl_dir.is_dir():
            raise HipartError(f"{smpl_dir}: no such folder; give --smpl-dir with the SMPL model pickles")
        models = {g: load_smpl_model(find_smpl_model(smpl_dir, g)) for g in GENDERS.values()}
        if regressor is None:
            regressor = find_joint_regressor(smpl_dir, "--regressor")
        V = models["male"].num_vertices
        return cls(models, load_joint_regressor(regressor, V))

    def gender(self, seq: PW3DSequence, actor: int) -> str:
        code = seq.genders[actor].lower()[:1]
        if code not in GENDERS:
            raise HipartError(f"{seq.name}: actor {actor} has gender '{seq.genders[actor]}'; expected 'm' or 'f'")
        return GENDERS[code]

    @torch.no_grad()
    def camera_joints(self, seq: PW3DSequence, actor: int, frames: np.ndarray) -> np.ndarray:
        """(n, 17, 3) camera-space mm of the actor at ``frames``: SMPL posed in world metres, moved by cam_poses,
        then the vertices regressed."""
        smpl = self.models[self.gender(seq, actor)]
        frames = np.asarray(frames, dtype=np.int64)
        out = np.zeros((len(frames), H36M.num_joints, 3))
        for a in range(0, len(frames), self.batch):
            f = frames[a:a + self.batch]
            pose = torch.as_tensor(seq.poses[actor][f])
            trans = torch.as_tensor(seq.trans[actor][f])
            betas = torch.as_tensor(seq.betas[actor][: smpl.num_betas]).expand(len(f), -1)
            verts = smpl(betas=betas, pose=pose, trans=trans).vertices  # (b, V, 3) world metres
            cam = torch.as_tensor(seq.cam_poses[f])
            verts = (torch.einsum("bij,bvj->bvi", cam[:, :3, :3], verts) + cam[:, None, :3, 3]) * MM_PER_METRE
            out[a:a + len(f)] = torch.einsum("jv,bvc->bjc", self.regressor, verts).numpy()
        if not np.isfinite(out).all():
            raise HipartError(f"{seq.name}: non-finite ground-truth joints for actor {actor}; check the pickle's "
                              "poses, betas, trans and cam_poses")
        return out

    def tracks(self, seq: PW3DSequence, split: str, size: tuple[int, int], max_frames: int | None = None
               ) -> list[PW3DTrack]:
        """Every actor's evaluation frames (the first ``max_frames`` image frames at most) with their ground truth."""
        n = seq.num_frames if max_frames is None else min(seq.num_frames, max_frames)
        K = seq.cam_intrinsics
        out = []
        for actor in range(seq.num_actors):
            valid = np.flatnonzero(seq.pose_valid[actor][:n])
            joints = self.camera_joints(seq, actor, valid)
            xy = project_pinhole(joints, K[[0, 1], [0, 1]], K[:2, 2])
            inside = ((joints[..., 2] > 0) & (xy[..., 0] >= 0) & (xy[..., 0] < size[0]) & (xy[..., 1] >= 0)
                      & (xy[..., 1] < size[1])).any(axis=1)
            out.append(PW3DTrack(seq.name, split, actor, valid[inside], joints[inside], xy[inside].astype(np.float64),
                                 seq.poses_2d[actor][valid[inside]], size, int(n - len(valid)),
                                 int((~inside).sum())))
        return out

"""Where dataset frames come from: the embedded synthetic capture (Anny) or Pose2Mesh's Human3.6M SMPL fits.

A source splits its work into tasks (independent units a worker process can run) and turns each task into shards:
per frame, the stacked 17 + K_d + K_f rows of :mod:`hipart.data.levels` in world mm, moved into every camera and
projected. The world rows come from the fast path (the pooling matrix folded into the skinning terms, 161 rows
skinned per frame) or, for checking and benchmarking, from the full path (every mesh point skinned, then pooled).
Sources keep only light settings when pickled; each worker rebuilds the body model it needs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from hipart.body.base import SkinnedBody, SkinnedRows
from hipart.body.smpl import SMPLBody, SMPLPose
from hipart.camera import Camera
from hipart.coarsen.hierarchy import Hierarchy
from hipart.coarsen.sources import pose2mesh_model
from hipart.config import DataConfig
from hipart.data.levels import LEVELS, level_sizes, pooling_matrix, split_levels
from hipart.data.pose2mesh import Pose2MeshH36M
from hipart.data.synthetic import DEFAULT_FRAMES, SUBACTIONS, SUBJECTS, SyntheticH36M, synthetic_subjects
from hipart.errors import HipartError
from hipart.skeleton import H36M, H36M_ACTIONS, TEST_SUBJECTS

FULL_PATH_BATCH = 64  # frames per full-mesh skinning batch: bounds the (batch, points, 3) buffer


def frame_fields(sizes: dict[str, int]) -> dict[str, dict[str, Any]]:
    """Per-frame fields of a shard: name -> shape (without the frame axis), dtype and unit."""
    fields: dict[str, dict[str, Any]] = {}
    for level in LEVELS:
        fields[f"x_{level}"] = {"shape": [sizes[level], 2], "dtype": "float32", "unit": "px"}
    for level in LEVELS:
        fields[f"X_{level}"] = {"shape": [sizes[level], 3], "dtype": "float32", "unit": "mm, camera space"}
    meta = {"subject": "int16", "action": "int8", "subaction": "int8", "camera": "int8", "frame": "int32"}
    for name, dtype in meta.items():
        fields[name] = {"shape": [], "dtype": dtype, "unit": "index"}
    fields["image_size"] = {"shape": [2], "dtype": "int16", "unit": "px (width, height)"}
    return fields


def subject_number(name: str | int) -> int:
    return int(str(name).lstrip("S"))


@dataclass(frozen=True)
class Task:
    name: str  # unique, used in shard file names
    split: str


@dataclass
class ShardData:
    name: str  # "train/S1_Directions_1.000"
    split: str
    subject: str
    action: str
    subaction: int
    arrays: dict[str, np.ndarray]


@dataclass
class View:
    """Frames of one camera: which rows of the world array it sees, their frame numbers and image sizes."""

    index: int  # 0-based camera index within the subject
    camera: Camera
    positions: np.ndarray  # (n,) rows of the world array
    frames: np.ndarray  # (n,) frame numbers in the original sequence
    image_size: np.ndarray | None = None  # (n, 2) per image; the camera's size when None


def project_views(world: np.ndarray, views: list[View], sizes: dict[str, int], distort: bool,
                  subject: int, action: int, subaction: int) -> dict[str, np.ndarray]:
    """World rows (F, K, 3) mm seen by ``views`` -> shard arrays, frames stored camera by camera."""
    Xc, px = [], []
    for v in views:
        X = v.camera.world_to_camera(world[v.positions])
        if (X[..., 2] <= 0).any():
            raise HipartError(f"camera {v.camera.id}: some joints lie behind the camera (z <= 0); check the extrinsics")
        Xc.append(X)
        px.append(v.camera.project(X, distort=distort))
    X_all, x_all = np.concatenate(Xc), np.concatenate(px)
    if not (np.isfinite(X_all).all() and np.isfinite(x_all).all()):
        raise HipartError("non-finite joint positions came out of the body model; check the source's pose parameters")
    out: dict[str, np.ndarray] = {}
    for level, rows in split_levels(x_all, sizes).items():
        out[f"x_{level}"] = rows.astype(np.float32)
    for level, rows in split_levels(X_all, sizes).items():
        out[f"X_{level}"] = rows.astype(np.float32)
    n = len(X_all)
    out["subject"] = np.full(n, subject, dtype=np.int16)
    out["action"] = np.full(n, action, dtype=np.int8)
    out["subaction"] = np.full(n, subaction, dtype=np.int8)
    out["camera"] = np.concatenate([np.full(len(v.positions), v.index) for v in views]).astype(np.int8)
    out["frame"] = np.concatenate([v.frames for v in views]).astype(np.int32)
    out["image_size"] = np.concatenate([
        np.tile([v.camera.width, v.camera.height], (len(v.positions), 1)) if v.image_size is None else v.image_size
        for v in views]).astype(np.int16)
    return out


def full_path_rows(skin: SkinnedRows, pool, T: torch.Tensor, features: torch.Tensor | None) -> np.ndarray:
    """Reference path: skin every point of the body, then pool: (F, K, 3) mm."""
    out = []
    for start in range(0, T.shape[0], FULL_PATH_BATCH):
        f = None if features is None else features[start:start + FULL_PATH_BATCH]
        points = skin.apply(T[start:start + FULL_PATH_BATCH], f).numpy()  # (b, P, 3)
        b, P, _ = points.shape
        pooled = pool @ points.transpose(1, 0, 2).reshape(P, b * 3)  # (K, b*3)
        out.append(pooled.reshape(-1, b, 3).transpose(1, 0, 2))
    return np.concatenate(out)


class CaptureSource(ABC):
    """A body-model capture that becomes dataset shards."""

    kind: str

    def __init__(self, hierarchy: Hierarchy, cfg: DataConfig) -> None:
        self.hierarchy = hierarchy
        self.cfg = cfg
        self.sizes = level_sizes(hierarchy)
        if cfg.shard_size < 4:
            raise HipartError(f"shard_size must be at least 4 frames (one per camera), got {cfg.shard_size}")

    def stride(self, split: str) -> int:
        return self.cfg.train_stride if split == "train" else self.cfg.test_stride

    @abstractmethod
    def tasks(self) -> list[Task]:
        """Independent units of work, in the order their shards are listed."""

    @abstractmethod
    def run(self, task: Task, done: set[str], fast: bool = True) -> Iterator[ShardData]:
        """The task's shards, skipping those named in ``done`` (their frames are not computed)."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """What the manifest records about the source (deterministic: it takes part in the resume check)."""

    def expected_frames(self) -> int | None:
        return None

    def check(self) -> None:
        """Load the body model and match it against the hierarchy: fails before anything is written."""
        self.pool

    def __getstate__(self) -> dict[str, Any]:  # workers rebuild heavy members (body models, folded rows)
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_") and k not in self._heavy}

    _heavy: tuple[str, ...] = ()


# ---------------------------------------------------------------- the embedded default


class SyntheticSource(CaptureSource):
    """The embedded Anny capture (hipart.data.synthetic): one task per subject, action and subaction."""

    kind = "default"
    _heavy = ("capture", "pool")

    def __init__(self, hierarchy: Hierarchy, cfg: DataConfig, seed: int = 0, capture: Any = None) -> None:
        super().__init__(hierarchy, cfg)
        self.seed = seed
        self.frames = cfg.frames_per_action or DEFAULT_FRAMES
        if capture is not None:  # reuse a built capture (tests); must match frames and seed
            if capture.frames != self.frames or capture.seed != seed:
                raise HipartError("the given capture was made with other frames/seed settings")
            self.__dict__["capture"] = capture

    @cached_property
    def capture(self) -> SyntheticH36M:
        return SyntheticH36M(frames=self.frames, seed=self.seed)

    @cached_property
    def pool(self):
        body: SkinnedBody = self.capture.body
        self.hierarchy.check_mesh(body.faces, body.num_vertices, "Anny body")
        return pooling_matrix(self.hierarchy, body.sparse_rows, body.num_points)

    def tasks(self) -> list[Task]:
        return [Task(f"{s}_{a}_{sub}", "train" if s not in TEST_SUBJECTS else "test")
                for s in SUBJECTS for a in H36M_ACTIONS for sub in SUBACTIONS]

    def _chunks(self, split: str) -> list[np.ndarray]:
        frames = np.arange(0, self.frames, self.stride(split))
        per_shard = max(1, self.cfg.shard_size // 4)  # four cameras per frame
        return [frames[i:i + per_shard] for i in range(0, len(frames), per_shard)]

    def expected_frames(self) -> int:
        return sum(4 * sum(len(c) for c in self._chunks(t.split)) for t in self.tasks())

    def _parse(self, task: Task) -> tuple[str, str, int]:
        subject, action, sub = task.name.split("_")
        return subject, action, int(sub)

    def world_rows(self, subject: str, action: str, subaction: int, frames: np.ndarray, fast: bool = True
                   ) -> np.ndarray:
        """Stacked level rows (F, K, 3) in world mm for chosen frames of one sequence."""
        seq = self.capture.sequence(subject, action, subaction, frames=frames)
        if fast:
            return self._folded(subject).apply(seq.transforms).numpy()
        skin = self.capture.body.skinning(self.capture.subjects[subject].phenotype)
        return full_path_rows(skin, self.pool, seq.transforms, None)

    def _folded(self, subject: str) -> SkinnedRows:
        cache = self.__dict__.setdefault("_folded_rows", {})
        if subject not in cache:
            cache[subject] = self.capture.rows(subject, self.pool)
        return cache[subject]

    def run(self, task: Task, done: set[str], fast: bool = True) -> Iterator[ShardData]:
        subject, action, sub = self._parse(task)
        cameras = self.capture.cameras(subject)
        for k, frames in enumerate(self._chunks(task.split)):
            name = f"{task.split}/{task.name}.{k:03d}"
            if name in done:
                continue
            world = self.world_rows(subject, action, sub, frames, fast)
            positions = np.arange(len(frames))
            views = [View(i, cam, positions, frames) for i, cam in enumerate(cameras)]
            arrays = project_views(world, views, self.sizes, self.cfg.distortion, subject_number(subject),
                                   H36M_ACTIONS.index(action), sub)
            yield ShardData(name, task.split, subject, action, sub, arrays)

    def describe(self) -> dict[str, Any]:
        subjects = synthetic_subjects(self.seed)
        return {
            "kind": self.kind, "body": "Anny (anny-noeyes-notongue), synthetic Human3.6M-like capture",
            "frames_per_action": self.frames, "fps": 50, "seed": self.seed,
            "subjects": {s: {"split": subjects[s].split, "phenotype": subjects[s].phenotype} for s in SUBJECTS},
            "sparse_from": "Anny bone heads (hipart.body.anny_body.H36M_TO_ANNY)",
            "cameras": _camera_table({s: self.capture.cameras(s) for s in SUBJECTS}),
        }


def _camera_table(per_subject: dict[str, tuple[Camera, ...]]) -> dict[str, list[dict[str, Any]]]:
    """Every subject's cameras (index = the shards' camera field) as Camera.to_dict()."""
    return {subject: [cam.to_dict() for cam in cams] for subject, cams in per_subject.items()}


# ---------------------------------------------------------------- Pose2Mesh Human3.6M


class Pose2MeshSource(CaptureSource):
    """Pose2Mesh's Human3.6M SMPL fits: one task per subject (its annotation files are read once per task).

    ``cfg.path`` is the Pose2Mesh data folder. Camera space follows Pose2Mesh (the fitted mesh moved rigidly by the
    camera's R, t; no distortion). X_s comes from the Human3.6M 3D joints (``cfg.sparse_from == "joints"``, what
    Pose2Mesh feeds its 2D input from) or from the H36M regressor applied to the SMPL mesh (``"regressor"``).
    """

    kind = "pose2mesh"
    _heavy = ("reader", "body", "pool")

    def __init__(self, hierarchy: Hierarchy, cfg: DataConfig, joints_regressor: str | Path | None = None) -> None:
        super().__init__(hierarchy, cfg)
        if cfg.sparse_from not in ("joints", "regressor"):
            raise HipartError(f"sparse_from must be 'joints' or 'regressor', got '{cfg.sparse_from}'")
        if cfg.distortion:
            raise HipartError("Pose2Mesh's camera files carry no distortion coefficients; build with --no-distortion")
        self.folder = Path(cfg.path)
        self.sparse_from = cfg.sparse_from
        self.joints_regressor = joints_regressor
        self.reader  # fail early on a wrong folder

    @cached_property
    def reader(self) -> Pose2MeshH36M:
        return Pose2MeshH36M(self.folder)

    @cached_property
    def body(self) -> SMPLBody:
        model, regressor = pose2mesh_model(self.folder, self.joints_regressor)
        body = SMPLBody(model, regressor)
        self.hierarchy.check_mesh(body.faces, body.num_vertices, "SMPL model")
        return body

    @cached_property
    def pool(self):
        return pooling_matrix(self.hierarchy, self.body.sparse_rows, self.body.num_points)

    def tasks(self) -> list[Task]:
        return [Task(f"S{s}", "test" if f"S{s}" in TEST_SUBJECTS else "train") for s in self.reader.subjects]

    def check(self) -> None:
        """The SMPL model against the hierarchy, and every subject's four annotation files present with readable
        cameras, before the build writes anything (the large data files are read per task)."""
        super().check()
        if not self.reader.subjects:
            raise HipartError(f"{self.reader.dir}: no Human36M_subject*_data.json files; give Pose2Mesh's data folder")
        for subject in self.reader.subjects:
            missing = [self.reader.path(subject, k).name for k in ("data", "camera", "joint_3d", "smpl_param")
                       if not self.reader.path(subject, k).is_file()]
            if missing:
                raise HipartError(f"{self.reader.dir}: S{subject} lacks {', '.join(missing)}; copy every file of "
                                  "Pose2Mesh's Human36M annotations")
            self.reader.cameras(subject)

    def world_rows(self, fits: list[Any], fast: bool = True) -> np.ndarray:
        """Stacked level rows (F, K, 3) world mm for SMPL fits, shapes clamped like Pose2Mesh (|β| > 3 -> mean)."""
        dtype = self.body.dtype
        betas = torch.as_tensor(np.stack([f.shape for f in fits]), dtype=dtype)
        betas[(betas.abs() > 3).any(dim=1)] = 0.0
        pose = SMPLPose(betas, torch.as_tensor(np.stack([f.pose for f in fits]), dtype=dtype),
                        torch.as_tensor(np.stack([f.trans for f in fits]), dtype=dtype))
        T, features = self.body.transforms(None, pose)
        if fast:
            rows = self.__dict__.get("_folded_rows")
            if rows is None:
                rows = self.__dict__["_folded_rows"] = self.body.skinning().fold(self.pool)
            return rows.apply(T, features).numpy()
        return full_path_rows(self.body.skinning(), self.pool, T, features)

    def run(self, task: Task, done: set[str], fast: bool = True) -> Iterator[ShardData]:
        subject = subject_number(task.name)
        groups: dict[tuple[int, int], list[Any]] = defaultdict(list)
        for fr in self.reader.frames([subject], stride=self.stride(task.split), require_smpl=True):
            groups[(fr.action_idx, fr.subaction_idx)].append(fr)
        for (a, s), frames in sorted(groups.items()):
            action = H36M_ACTIONS[a - 2]
            frame_ids = sorted({fr.frame_idx for fr in frames})
            by_cam: dict[int, dict[int, Any]] = defaultdict(dict)
            for fr in frames:
                by_cam[fr.cam_idx][fr.frame_idx] = fr
            per_shard = max(1, self.cfg.shard_size // max(1, len(by_cam)))
            stem = f"{task.name}_{action}_{s}"
            for k, start in enumerate(range(0, len(frame_ids), per_shard)):
                name = f"{task.split}/{stem}.{k:03d}"
                if name in done:
                    continue
                chunk = frame_ids[start:start + per_shard]
                first = {f: next(by_cam[c][f] for c in sorted(by_cam) if f in by_cam[c]) for f in chunk}
                world = self.world_rows([first[f].smpl for f in chunk], fast)
                if self.sparse_from == "joints":
                    world[:, :H36M.num_joints] = np.stack([first[f].joints_world for f in chunk])
                position = {f: i for i, f in enumerate(chunk)}
                views = []
                for c in sorted(by_cam):
                    seen = [by_cam[c][f] for f in chunk if f in by_cam[c]]
                    if seen:  # image sizes can differ per image (H36M: 1000x1000 or 1000x1002)
                        views.append(View(c - 1, seen[0].camera, np.array([position[fr.frame_idx] for fr in seen]),
                                          np.array([fr.frame_idx for fr in seen]),
                                          np.array([(fr.camera.width, fr.camera.height) for fr in seen])))
                arrays = project_views(world, views, self.sizes, False, subject, a - 2, s)
                yield ShardData(name, task.split, f"S{subject}", action, s, arrays)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "body": "SMPL (Pose2Mesh Human3.6M fits)", "path": str(self.folder.resolve()),
            "subjects": {f"S{s}": {"split": "test" if f"S{s}" in TEST_SUBJECTS else "train"}
                         for s in self.reader.subjects},
            "sparse_from": "Human3.6M 3D joints (_joint_3d.json)" if self.sparse_from == "joints"
            else "H36M regressor on the SMPL mesh (J_regressor_h36m_correct.npy)",
            "camera_convention": "Pose2Mesh: mesh moved rigidly into the camera (R, t), pinhole, no distortion",
            "cameras": _camera_table({f"S{s}": tuple(c for _, c in sorted(self.reader.cameras(s).items()))
                                      for s in self.reader.subjects}),
        }

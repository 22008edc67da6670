"""Pose2Mesh's Human3.6M annotations: per-subject data / camera / joint_3d / smpl_param JSON files.

Layout (``data/Human36M/annotations/`` in Pose2Mesh):
- ``Human36M_subject{S}_data.json``: COCO-style ``images`` (id, file_name, width, height, subject, action_idx 2..16,
  subaction_idx 1..2, cam_idx 1..4, frame_idx) and ``annotations`` (image_id, bbox, keypoints_vis).
- ``Human36M_subject{S}_camera.json``: ``{"1".."4": {R (3x3 world->camera), t (3, mm), f (2), c (2)}}``.
- ``Human36M_subject{S}_joint_3d.json``: ``{action_idx: {subaction_idx: {frame_idx: 17x3 world mm}}}``.
- ``Human36M_subject{S}_smpl_param.json``: ``{action_idx: {subaction_idx: {frame_idx: {pose[72], shape[10],
  trans[[3]] (metres)}}}}``, fitted every 5th frame.

Subjects are read one at a time, so memory holds a single subject's annotations.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import torch

from hipart.body.smpl import SMPL
from hipart.camera import Camera
from hipart.errors import HipartError
from hipart.skeleton import H36M, H36M_ACTIONS
from hipart.units import MM_PER_METRE

FILE_KINDS = ("data", "camera", "joint_3d", "smpl_param")
_SUBJECT_RE = re.compile(r"Human36M_subject(\d+)_data\.json$")


@dataclass(frozen=True)
class SMPLParams:
    pose: np.ndarray  # (72,) axis-angle, root in world orientation
    shape: np.ndarray  # (10,)
    trans: np.ndarray  # (3,) metres, SMPL origin -> H36M world


@dataclass(frozen=True)
class H36MFrame:
    subject: int
    action_idx: int  # 2..16
    subaction_idx: int  # 1..2
    cam_idx: int  # 1..4
    frame_idx: int
    image_id: int
    file_name: str
    camera: Camera
    joints_world: np.ndarray  # (17, 3) mm
    smpl: SMPLParams | None
    bbox: np.ndarray | None  # (4,) x, y, w, h px

    @property
    def action(self) -> str:
        return H36M_ACTIONS[self.action_idx - 2]

    @property
    def joints_cam(self) -> np.ndarray:
        return self.camera.world_to_camera(self.joints_world)


def _read_json(path: Path, expected: str) -> Any:
    if not path.is_file():
        raise HipartError(f"{path}: file not found (expected {expected}); copy Pose2Mesh's Human36M annotations here")
    try:
        with path.open() as fh:
            return json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HipartError(f"{path}: not valid JSON ({exc}); re-download {path.name}") from exc


def find_annotation_dir(root: str | Path) -> Path:
    """Accept the annotations folder itself or any folder above it (Pose2Mesh's data/ or data/Human36M/)."""
    root = Path(root)
    if not root.is_dir():
        raise HipartError(f"{root}: not a folder; point at Pose2Mesh's data/Human36M/annotations")
    if any(_SUBJECT_RE.search(p.name) for p in root.glob("Human36M_subject*_data.json")):
        return root
    hits = sorted({p.parent for p in root.rglob("Human36M_subject*_data.json")})
    if not hits:
        raise HipartError(f"{root}: no Human36M_subject*_data.json below this folder; point at Pose2Mesh's annotations")
    return hits[0]


def camera_space_mesh(smpl: SMPL, params: Iterable[SMPLParams], R: np.ndarray, t: np.ndarray,
                      clamp_shape: bool = True, regressor: torch.Tensor | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Pose2Mesh's camera-space SMPL mesh in mm for a batch of fits seen by one camera (R world->camera, t mm).

    The root orientation is pre-multiplied by R; the translation moves the rotated root joint to
    R·(J0 + trans) + t, i.e. mesh = SMPL(θ', β) − J0 + R·J0 + R·trans + t/1000, then ×1000.
    With `clamp_shape`, fits with any |β| > 3 use the mean shape, as Pose2Mesh does.
    Returns (vertices (B, V, 3) mm, rows regressed by `regressor` (B, K, 3) mm or the 24 SMPL joints).
    """
    params = list(params)
    dtype = smpl.v_template.dtype
    pose = torch.as_tensor(np.stack([p.pose for p in params]), dtype=dtype)
    betas = torch.as_tensor(np.stack([p.shape for p in params]), dtype=dtype)
    trans = torch.as_tensor(np.stack([p.trans for p in params]), dtype=dtype)
    if clamp_shape:
        betas[(betas.abs() > 3).any(dim=1)] = 0.0
    Rt = torch.as_tensor(R, dtype=dtype)
    rotmats = smpl.rotations(pose)
    rotmats[:, 0] = Rt @ rotmats[:, 0]
    out = smpl(betas=betas, rotmats=rotmats)
    root = out.joints[:, :1]  # rest root joint: the root rotation pivots on it
    offset = root @ Rt.T - root + (trans @ Rt.T)[:, None] + torch.as_tensor(t, dtype=dtype) / MM_PER_METRE
    verts = (out.vertices + offset) * MM_PER_METRE
    joints = (out.joints + offset) * MM_PER_METRE if regressor is None else torch.einsum("kv,bvc->bkc", regressor.to(dtype), verts)
    return verts, joints


class Pose2MeshH36M:
    """Lazy reader of Pose2Mesh's Human3.6M annotation folder."""

    def __init__(self, root: str | Path) -> None:
        self.dir = find_annotation_dir(root)
        self.subjects = sorted(int(m.group(1)) for p in self.dir.iterdir() if (m := _SUBJECT_RE.search(p.name)))

    def path(self, subject: int, kind: str) -> Path:
        return self.dir / f"Human36M_subject{subject}_{kind}.json"

    def cameras(self, subject: int, width: int = 1000, height: int = 1000) -> dict[int, Camera]:
        path = self.path(subject, "camera")
        raw = _read_json(path, "{'1'..'4': {R, t, f, c}}")
        return {int(k): _camera(v, subject, int(k), width, height, path) for k, v in raw.items()}

    def frames(self, subjects: Iterable[int] | None = None, stride: int = 5, require_smpl: bool = True,
               ) -> Iterator[H36MFrame]:
        """Frames with frame_idx % stride == 0, subject by subject, ordered as in the data file."""
        for subject in (self.subjects if subjects is None else subjects):
            if subject not in self.subjects:
                raise HipartError(f"{self.dir}: no annotations for subject S{subject} (found {self.subjects})")
            yield from self._subject_frames(subject, stride, require_smpl)

    def _subject_frames(self, subject: int, stride: int, require_smpl: bool) -> Iterator[H36MFrame]:
        data_path = self.path(subject, "data")
        data = _read_json(data_path, "COCO-style {'images': [...], 'annotations': [...]}")
        if not isinstance(data, dict) or "images" not in data:
            raise HipartError(f"{data_path}: expected a COCO-style object with 'images' and 'annotations'")
        joints = _read_json(self.path(subject, "joint_3d"), "{action: {subaction: {frame: 17x3}}}")
        smpl_path = self.path(subject, "smpl_param")
        smpl = _read_json(smpl_path, "{action: {subaction: {frame: {pose, shape, trans}}}}") if (
            require_smpl or smpl_path.is_file()) else {}
        bboxes = {a["image_id"]: a.get("bbox") for a in data.get("annotations", [])}
        cam_json = _read_json(self.path(subject, "camera"), "{'1'..'4': {R, t, f, c}}")
        cameras: dict[tuple[int, int, int], Camera] = {}
        for img in data["images"]:
            try:
                a, s, c, f = (int(img[k]) for k in ("action_idx", "subaction_idx", "cam_idx", "frame_idx"))
                w, h = int(img["width"]), int(img["height"])
            except (KeyError, TypeError, ValueError) as exc:
                raise HipartError(f"{data_path}: image entry lacks {exc}; expected Pose2Mesh's image fields") from exc
            if f % stride:
                continue
            fit = smpl.get(str(a), {}).get(str(s), {}).get(str(f))
            if require_smpl and fit is None:
                continue  # Pose2Mesh skips frames without an SMPL fit in the same way
            key = (c, w, h)
            if key not in cameras:
                if str(c) not in cam_json:
                    raise HipartError(f"{self.path(subject, 'camera')}: no camera '{c}' (images use cam_idx 1..4)")
                cameras[key] = _camera(cam_json[str(c)], subject, c, w, h, self.path(subject, "camera"))
            try:
                jw = np.asarray(joints[str(a)][str(s)][str(f)], dtype=np.float64)
            except KeyError as exc:
                raise HipartError(f"{self.path(subject, 'joint_3d')}: no joints for action {a}, subaction {s}, "
                                  f"frame {f}") from exc
            if jw.shape != (H36M.num_joints, 3):
                raise HipartError(f"{self.path(subject, 'joint_3d')}: action {a} subaction {s} frame {f} has shape "
                                  f"{jw.shape}, expected (17, 3)")
            yield H36MFrame(
                subject=subject, action_idx=a, subaction_idx=s, cam_idx=c, frame_idx=f, image_id=int(img["id"]),
                file_name=str(img.get("file_name", "")), camera=cameras[key], joints_world=jw,
                smpl=None if fit is None else _smpl_params(fit, smpl_path, (a, s, f)),
                bbox=None if bboxes.get(img["id"]) is None else np.asarray(bboxes[img["id"]], dtype=np.float64),
            )


def _camera(entry: dict[str, Any], subject: int, cam_idx: int, width: int, height: int, path: Path) -> Camera:
    try:
        return Camera(R=np.asarray(entry["R"]), t=np.asarray(entry["t"]).reshape(3), f=np.asarray(entry["f"]).reshape(2),
                      c=np.asarray(entry["c"]).reshape(2), width=width, height=height, id=f"S{subject}-{cam_idx}")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise HipartError(f"{path}: camera '{cam_idx}' lacks R (3x3), t (3), f (2) or c (2) ({exc})") from exc


def _smpl_params(fit: dict[str, Any], path: Path, where: tuple[int, int, int]) -> SMPLParams:
    try:
        pose = np.asarray(fit["pose"], dtype=np.float64).reshape(-1)
        shape = np.asarray(fit["shape"], dtype=np.float64).reshape(-1)
        trans = np.asarray(fit["trans"], dtype=np.float64).reshape(-1)
    except (KeyError, TypeError, ValueError) as exc:
        raise HipartError(f"{path}: fit at (action, subaction, frame) {where} lacks pose/shape/trans ({exc})") from exc
    if pose.shape != (72,) or shape.shape != (10,) or trans.shape != (3,):
        raise HipartError(f"{path}: fit at {where} has pose {pose.shape}, shape {shape.shape}, trans {trans.shape}; "
                          "expected (72,), (10,), (3,)")
    if not (np.isfinite(pose).all() and np.isfinite(shape).all() and np.isfinite(trans).all()):
        raise HipartError(f"{path}: fit at {where} holds NaN or infinite values")
    return SMPLParams(pose, shape, trans)

"""The one camera model of hipart: extrinsics, pinhole projection with optional distortion, screen normalization.

Conventions
-----------
- A camera holds a world->camera rotation ``R`` (3x3) and translation ``t`` (mm): ``X_c = R @ X_w + t``.
  Pose2Mesh's ``_camera.json`` stores exactly this; the Human3.6M calibration stores a unit quaternion
  (w, x, y, z) rotating camera into world coordinates and the camera centre ``T`` in world coordinates,
  which gives ``R = rot(q)^T`` and ``t = -R @ T``.
- Distortion follows the Human3.6M calibration (the original MATLAB code, as VideoPose3D reimplements it):
  with ``u = clamp(x/z, -1, 1)``, ``r2 = |u|^2``, ``radial = 1 + k1 r2 + k2 r2^2 + k3 r2^3``,
  ``tan = p1 u_x + p2 u_y``: ``u' = u (radial + tan) + (p1, p2) r2``; pixel = ``f * u' + c``.
  The clamp keeps points far outside the field of view from folding back through the polynomial.
- Screen normalization maps ``[0, w]`` to ``[-1, 1]`` keeping the aspect ratio (VideoPose3D).

All functions accept torch tensors or numpy arrays with any leading batch shape and return the type they got.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from hipart.errors import HipartError

Array = np.ndarray | torch.Tensor


def _numpy_friendly(fn: Callable[..., torch.Tensor]) -> Callable[..., Array]:
    """Run a torch implementation on numpy inputs too, returning numpy when the first argument was numpy."""

    @functools.wraps(fn)
    def wrapper(x: Array, *args: Any, **kwargs: Any) -> Array:
        was_numpy = not isinstance(x, torch.Tensor)
        xt = torch.as_tensor(np.asarray(x)) if was_numpy else x
        if not xt.is_floating_point():
            xt = xt.double()
        out = fn(xt, *args, **kwargs)
        return out.numpy() if was_numpy else out

    return wrapper


def _like(value: Any, ref: torch.Tensor) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.to(dtype=ref.dtype, device=ref.device)
    return torch.as_tensor(np.asarray(value), dtype=ref.dtype, device=ref.device)


# ---------------------------------------------------------------- quaternions (w, x, y, z)


@_numpy_friendly
def quat_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """Unit quaternion (..., 4) in (w, x, y, z) order -> rotation matrix (..., 3, 3)."""
    q = q / q.norm(dim=-1, keepdim=True)
    w, x, y, z = q.unbind(-1)
    rows = [
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ]
    return torch.stack(rows, dim=-1).reshape(*q.shape[:-1], 3, 3)


@_numpy_friendly
def qrot(q: torch.Tensor, v: Array) -> torch.Tensor:
    """Rotate vectors v (..., 3) by unit quaternions q (..., 4), broadcasting leading dimensions."""
    v = _like(v, q)
    qvec = q[..., 1:]
    uv = torch.cross(qvec.expand_as(v), v, dim=-1)
    uuv = torch.cross(qvec.expand_as(v), uv, dim=-1)
    return v + 2 * (q[..., :1] * uv + uuv)


@_numpy_friendly
def qinverse(q: torch.Tensor) -> torch.Tensor:
    """Inverse of a unit quaternion (its conjugate)."""
    return torch.cat([q[..., :1], -q[..., 1:]], dim=-1)


# ---------------------------------------------------------------- extrinsics and projection


@_numpy_friendly
def world_to_camera(X: torch.Tensor, R: Array, t: Array) -> torch.Tensor:
    """World points (..., 3) -> camera points with R (3x3, world->camera) and t (3,)."""
    R, t = _like(R, X), _like(t, X)
    return torch.einsum("...ij,...nj->...ni", R, X) + t.unsqueeze(-2) if R.dim() > 2 else X @ R.T + t


@_numpy_friendly
def camera_to_world(Xc: torch.Tensor, R: Array, t: Array) -> torch.Tensor:
    """Inverse of world_to_camera."""
    R, t = _like(R, Xc), _like(t, Xc)
    if R.dim() > 2:
        return torch.einsum("...ji,...nj->...ni", R, Xc - t.unsqueeze(-2))
    return (Xc - t) @ R


@_numpy_friendly
def project_pinhole(Xc: torch.Tensor, f: Array, c: Array) -> torch.Tensor:
    """Camera points (..., 3) -> pixels (..., 2), no distortion."""
    return _like(f, Xc) * Xc[..., :2] / Xc[..., 2:] + _like(c, Xc)


@_numpy_friendly
def project_distorted(Xc: torch.Tensor, f: Array, c: Array, k: Array, p: Array) -> torch.Tensor:
    """Camera points (..., 3) -> pixels (..., 2) with the Human3.6M radial (k1..k3) and tangential (p1, p2) model."""
    f, c, k, p = (_like(a, Xc) for a in (f, c, k, p))
    u = torch.clamp(Xc[..., :2] / Xc[..., 2:], min=-1, max=1)
    r2 = (u**2).sum(dim=-1, keepdim=True)
    radial = 1 + (k * torch.cat([r2, r2**2, r2**3], dim=-1)).sum(dim=-1, keepdim=True)
    tan = (p * u).sum(dim=-1, keepdim=True)
    return f * (u * (radial + tan) + p * r2) + c


@_numpy_friendly
def normalize_screen_coordinates(x: torch.Tensor, w: float, h: float) -> torch.Tensor:
    """Pixels -> [-1, 1] across the width, aspect ratio kept (VideoPose3D)."""
    return x / w * 2 - _like([1.0, h / w], x)


@_numpy_friendly
def image_coordinates(x: torch.Tensor, w: float, h: float) -> torch.Tensor:
    """Inverse of normalize_screen_coordinates."""
    return (x + _like([1.0, h / w], x)) * w / 2


def normalize_pixels(x: Array, image_size: Array) -> Array:
    """normalize_screen_coordinates per frame: pixels (..., J, 2) with image sizes (..., 2) as (width, height).

    ``x / w * 2 - [1, h / w]`` equals ``(2 x - (w, h)) / w``.
    """
    size = image_size[..., None, :]
    return (2 * x - size) / size[..., :1]


def denormalize_pixels(x: Array, image_size: Array) -> Array:
    """Inverse of normalize_pixels."""
    size = image_size[..., None, :]
    return (x * size[..., :1] + size) / 2


# ---------------------------------------------------------------- the camera object


@dataclass(frozen=True)
class Camera:
    R: np.ndarray  # (3, 3) world -> camera
    t: np.ndarray  # (3,) mm
    f: np.ndarray  # (2,) px
    c: np.ndarray  # (2,) px
    width: int
    height: int
    k: np.ndarray = field(default_factory=lambda: np.zeros(3))
    p: np.ndarray = field(default_factory=lambda: np.zeros(2))
    id: str = ""

    def __post_init__(self) -> None:
        for name, shape in (("R", (3, 3)), ("t", (3,)), ("f", (2,)), ("c", (2,)), ("k", (3,)), ("p", (2,))):
            value = np.asarray(getattr(self, name), dtype=np.float64)
            if value.shape != shape:
                raise HipartError(f"camera {self.id or '?'}: '{name}' has shape {value.shape}, expected {shape}")
            if not np.isfinite(value).all():
                raise HipartError(f"camera {self.id or '?'}: '{name}' holds NaN or infinite values")
            object.__setattr__(self, name, value)

    @classmethod
    def from_quaternion(cls, orientation: Any, translation: Any, **intrinsics: Any) -> "Camera":
        """From Human3.6M extrinsics: quaternion (w,x,y,z) camera->world and the camera centre in world mm."""
        R = np.asarray(quat_to_matrix(np.asarray(orientation, dtype=np.float64))).T
        t = -R @ np.asarray(translation, dtype=np.float64)
        return cls(R=R, t=t, **intrinsics)

    @property
    def center(self) -> np.ndarray:
        """Camera centre in world coordinates (mm)."""
        return -self.R.T @ self.t

    @property
    def has_distortion(self) -> bool:
        return bool(np.any(self.k) or np.any(self.p))

    def world_to_camera(self, X: Array) -> Array:
        return world_to_camera(X, self.R, self.t)

    def camera_to_world(self, Xc: Array) -> Array:
        return camera_to_world(Xc, self.R, self.t)

    def project(self, Xc: Array, distort: bool = True) -> Array:
        """Camera-space points (mm) -> pixels; distortion applied only when asked and present."""
        if distort and self.has_distortion:
            return project_distorted(Xc, self.f, self.c, self.k, self.p)
        return project_pinhole(Xc, self.f, self.c)

    def normalize(self, x: Array) -> Array:
        return normalize_screen_coordinates(x, self.width, self.height)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "R": self.R.tolist(), "t": self.t.tolist(), "f": self.f.tolist(), "c": self.c.tolist(),
            "k": self.k.tolist(), "p": self.p.tolist(), "width": self.width, "height": self.height,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Camera":
        return cls(**d)


CALIBRATION_FILE = "h36m_cameras.json"


def load_h36m_cameras(path: str | Path | None = None) -> dict[str, tuple[Camera, ...]]:
    """The four Human3.6M cameras of every subject, from the packaged calibration or a file in the same format."""
    try:
        if path is None:
            text = resources.files("hipart.resources").joinpath(CALIBRATION_FILE).read_text()
            source = f"packaged {CALIBRATION_FILE}"
        else:
            text = Path(path).read_text()
            source = str(path)
    except FileNotFoundError as exc:
        raise HipartError(f"{path}: camera calibration not found; pass a file in the h36m_cameras.json format") from exc
    try:
        data = json.loads(text)
        intrinsics, extrinsics = data["intrinsics"], data["extrinsics"]
        cameras: dict[str, tuple[Camera, ...]] = {}
        for subject, extr in extrinsics.items():
            if len(extr) != len(intrinsics):
                raise ValueError(f"subject {subject} has {len(extr)} extrinsics for {len(intrinsics)} cameras")
            cameras[subject] = tuple(
                Camera.from_quaternion(
                    e["orientation"], e["translation"], f=i["focal_length"], c=i["center"],
                    k=i["radial_distortion"], p=i["tangential_distortion"],
                    width=int(i["res_w"]), height=int(i["res_h"]), id=str(i["id"]),
                )
                for i, e in zip(intrinsics, extr)
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise HipartError(
            f"{source}: not a Human3.6M calibration file ({exc}); expected keys intrinsics[] and extrinsics{{subject: []}}"
        ) from exc
    return cameras


def capture_centre(cameras: tuple[Camera, ...] | list[Camera]) -> np.ndarray:
    """The world point (mm) closest, in least squares, to every camera's optical axis: where a rig looks."""
    A, b = np.zeros((3, 3)), np.zeros(3)
    for cam in cameras:
        axis = cam.R[2]  # the camera's +z (viewing direction) in world coordinates
        P = np.eye(3) - np.outer(axis, axis)
        A += P
        b += P @ cam.center
    return np.linalg.solve(A, b)

"""``hipart predict``: 2D keypoints (17, Human3.6M order, pixels) -> hierarchical 2D (17/48/96) and 3D poses.

Inputs: an ``.npy``/``.npz`` of (N, 17, 2) (see :func:`hipart.densify.load_keypoints`), a ``.json`` holding
``{"keypoints": [[[x, y] x 17] x N], "image_size": [w, h]}`` (or ``"intrinsics": {"width", "height", ...}``), or
VideoPose3D's 2D archive (``positions_2d`` = {subject: {action: [camera arrays]}}), whose image sizes come from the
packaged Human3.6M calibration. The lifter reads screen-normalized coordinates, so the image size matters; without
one, 1000 x 1000 is assumed and said.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

from hipart.camera import load_h36m_cameras
from hipart.data.videopose3d import load_positions_2d
from hipart.densify import check_keypoints, load_keypoints
from hipart.errors import HipartError
from hipart.io import atomic_path
from hipart.models.hipart import HiPART

DEFAULT_SIZE = (1000, 1000)


def _json_keypoints(path: Path) -> tuple[np.ndarray, tuple[int, int] | None]:
    try:
        obj = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HipartError(f"{path}: not valid JSON ({exc})") from None
    if isinstance(obj, list):
        obj = {"keypoints": obj}
    if not isinstance(obj, dict) or "keypoints" not in obj:
        raise HipartError(f"{path}: expected {{'keypoints': [[[x, y] x 17] x N], 'image_size': [w, h]}}")
    try:
        x = np.asarray(obj["keypoints"], dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise HipartError(f"{path}: keypoints are not numbers ({exc})") from None
    size = obj.get("image_size")
    if size is None and isinstance(obj.get("intrinsics"), dict):
        size = (obj["intrinsics"].get("width"), obj["intrinsics"].get("height"))
    if size is not None:
        try:
            size = (int(size[0]), int(size[1]))
        except (TypeError, ValueError, IndexError):
            raise HipartError(f"{path}: image_size must be [width, height] in pixels") from None
    return x, size


def read_inputs(path: str | Path, image_size: tuple[int, int] | None, log: Callable[[str], None] = print
                ) -> dict[str, tuple[np.ndarray, tuple[int, int]]]:
    """Named groups of keypoints with their image size: one group, or one per VideoPose3D subject/action/camera."""
    path = Path(path)
    if path.suffix == ".npz" and path.is_file() and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            is_vp3d = "positions_2d.npy" in zf.namelist()
        if is_vp3d:
            positions, _ = load_positions_2d(path)
            cams = load_h36m_cameras()
            groups = {}
            for subject, actions in positions.items():
                for action, per_cam in actions.items():
                    for c, x in enumerate(per_cam):
                        cam = cams.get(subject, (None,) * 4)[c]
                        size = image_size or ((cam.width, cam.height) if cam is not None else DEFAULT_SIZE)
                        groups[f"{subject}/{action}/{c}"] = (check_keypoints(x, path), size)
            return groups
    if path.suffix == ".json":
        if not path.is_file():
            raise HipartError(f"{path}: file not found")
        x, size = _json_keypoints(path)
        x = check_keypoints(x, path)
    else:
        x, size = load_keypoints(path), None
    size = image_size or size
    if size is None:
        size = DEFAULT_SIZE
        log(f"no image size given: assuming {size[0]} x {size[1]} px (pass --image-size W H)")
    return {"": (x, size)}


def predict_file(run: str | Path, inp: str | Path, out: str | Path, image_size: tuple[int, int] | None = None,
                 device: str = "auto", log: Callable[[str], None] = print, compile: bool | str = "auto"
                 ) -> dict[str, np.ndarray]:
    """Run the HiPART model of ``run`` on ``inp``; write x_s, x_d, x_f (px) and X (mm) to ``out``. ``compile``:
    HiPART's fast decoding compiled (True), eager (False) or "auto" (see ``hipart.models.fast``)."""
    model = HiPART.from_run(run, device, compile=compile)
    arrays: dict[str, np.ndarray] = {}
    for name, (x_s, size) in read_inputs(inp, image_size, log).items():
        pred = model(x_s, size)
        prefix = f"{name}/" if name else ""
        arrays.update({f"{prefix}x_s": x_s, f"{prefix}x_d": pred["x_d"].cpu().numpy(),
                       f"{prefix}x_f": pred["x_f"].cpu().numpy(), f"{prefix}X": pred["X"].cpu().numpy()})
    with atomic_path(out) as tmp:
        np.savez(tmp, **arrays)
    return arrays

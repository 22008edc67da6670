"""``hipart predict``: 2D keypoints (17, Human3.6M order, pixels) -> hierarchical 2D (17/48/96) and 3D poses.

Inputs: an ``.npy``/``.npz`` of (N, 17, 2) (see :func:`hipart.densify.load_keypoints`), a ``.json`` holding
``{"keypoints": [[[x, y] x 17] x N], "image_size": [w, h]}`` (or ``"intrinsics": {"width", "height", ...}``), or
VideoPose3D's 2D archive (``positions_2d`` = {subject: {action: [camera arrays]}}), whose image sizes come from the
packaged Human3.6M calibration. The lifter reads screen-normalised coordinates, so the image size matters; without
one, 1000 x 1000 is assumed and said.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from hipart.camera import load_h36m_cameras, normalize_pixels
from hipart.data.shards import file_sha256
from hipart.errors import HipartError
from hipart.io import atomic_path

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
    from hipart.densify import load_keypoints

    path = Path(path)
    if path.suffix == ".npz" and path.is_file():
        import zipfile

        with zipfile.ZipFile(path) as zf:
            is_vp3d = "positions_2d.npy" in zf.namelist()
        if is_vp3d:
            from hipart.data.videopose3d import load_positions_2d

            positions, _ = load_positions_2d(path)
            cams = load_h36m_cameras()
            groups = {}
            for subject, actions in positions.items():
                for action, per_cam in actions.items():
                    for c, x in enumerate(per_cam):
                        cam = cams.get(subject, (None,) * 4)[c]
                        size = image_size or ((cam.width, cam.height) if cam is not None else DEFAULT_SIZE)
                        groups[f"{subject}/{action}/{c}"] = (_check(np.asarray(x, np.float32), path), size)
            return groups
    if path.suffix == ".json":
        if not path.is_file():
            raise HipartError(f"{path}: file not found")
        x, size = _json_keypoints(path)
        x = _check(x[None] if x.shape == (17, 2) else x, path)
    else:
        x, size = load_keypoints(path), None
    size = image_size or size
    if size is None:
        size = DEFAULT_SIZE
        log(f"no image size given: assuming {size[0]} x {size[1]} px (pass --image-size W H)")
    return {"": (x, size)}


def _check(x: np.ndarray, path: Path) -> np.ndarray:
    if x.ndim != 3 or x.shape[1:] != (17, 2):
        raise HipartError(f"{path}: keypoints have shape {x.shape}; expected (N, 17, 2) pixels in Human3.6M order")
    if not np.isfinite(x).all():
        raise HipartError(f"{path}: keypoints hold NaN or infinite values; drop or fill those frames first")
    return x


def predict_file(run: str | Path, inp: str | Path, out: str | Path, image_size: tuple[int, int] | None = None,
                 device: str = "auto", log: Callable[[str], None] = print) -> dict[str, np.ndarray]:
    """Run HiARM + MSST + the hier lifter of ``run`` on ``inp``; write x_s, x_d, x_f (px) and X (mm) to ``out``."""
    from hipart.device import pick_device
    from hipart.training.hiarm import densify, load_hiarm
    from hipart.training.lifter import load_lifter
    from hipart.training.msst import load_msst

    run = Path(run)
    msst, msst_ckpt = load_msst(run / "msst" / "checkpoint.pt")
    hiarm, hiarm_ckpt = load_hiarm(run / "hiarm" / "checkpoint.pt")
    lifter, lifter_ckpt = load_lifter(run / "lifter_hier" / "checkpoint.pt")
    if hiarm_ckpt["msst_sha256"] != file_sha256(run / "msst" / "checkpoint.pt"):
        raise HipartError(f"{run}: hiarm/ was trained on another MSST checkpoint than msst/; retrain with 'hipart "
                          "train all --force'")
    if lifter_ckpt["hierarchy_hash"] != msst_ckpt["hierarchy_hash"]:
        raise HipartError(f"{run}: lifter_hier/ and msst/ were trained with different hierarchies; retrain the lifter")
    dev = pick_device(device)
    hiarm, msst, lifter = hiarm.to(dev), msst.to(dev), lifter.to(dev)
    arrays: dict[str, np.ndarray] = {}
    for name, (x_s, size) in read_inputs(inp, image_size, log).items():
        dense = densify(hiarm, msst, torch.from_numpy(x_s))
        joints = np.concatenate([x_s, dense["x_d"].numpy(), dense["x_f"].numpy()], axis=1)
        sizes = np.tile(np.asarray(size, np.float32), (len(x_s), 1))
        x = torch.as_tensor(normalize_pixels(joints, sizes), dtype=torch.float32)
        with torch.no_grad():
            X = torch.cat([lifter(x[i:i + 2048].to(dev)).cpu() for i in range(0, len(x), 2048)]).numpy()
        prefix = f"{name}/" if name else ""
        arrays.update({f"{prefix}x_s": x_s, f"{prefix}x_d": dense["x_d"].numpy(), f"{prefix}x_f": dense["x_f"].numpy(),
                       f"{prefix}X": X})
    with atomic_path(out) as tmp:
        np.savez(tmp, **arrays)
    return arrays

"""Sparse 2D keypoints in, dense and fine 2D levels out, with a trained run's HiARM and MSST."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from hipart.data.shards import file_sha256
from hipart.device import pick_device
from hipart.errors import HipartError
from hipart.io import atomic_path
from hipart.training.hiarm import densify, load_hiarm
from hipart.training.msst import load_msst

KEYPOINT_KEYS = ("keypoints", "x_s", "positions_2d")


def load_keypoints(path: str | Path) -> np.ndarray:
    """(N, 17, 2) pixels, Human3.6M joint order, from a .npy array or an .npz holding one (named keypoints or x_s)."""
    path = Path(path)
    if not path.is_file():
        raise HipartError(f"{path}: file not found; give an .npy or .npz of (N, 17, 2) pixel keypoints")
    try:
        if path.suffix == ".npy":
            x = np.load(path, allow_pickle=False)
        elif path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:  # object arrays are refused, never unpickled
                names = [k for k in KEYPOINT_KEYS if k in z.files] or (z.files if len(z.files) == 1 else [])
                if not names:
                    raise HipartError(f"{path}: no array named {' or '.join(KEYPOINT_KEYS)} (found "
                                      f"{', '.join(z.files)})")
                x = np.asarray(z[names[0]])
        else:
            raise HipartError(f"{path}: unsupported input '{path.suffix}'; use .npy or .npz")
    except (ValueError, OSError, EOFError) as exc:
        raise HipartError(f"{path}: unreadable array file ({exc})") from None
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 2 and x.shape == (17, 2):
        x = x[None]
    if x.ndim != 3 or x.shape[1:] != (17, 2):
        raise HipartError(f"{path}: keypoints have shape {x.shape}; expected (N, 17, 2) pixels in Human3.6M order")
    if not np.isfinite(x).all():
        raise HipartError(f"{path}: keypoints hold NaN or infinite values; drop or fill those frames first")
    return x


def densify_file(run: str | Path, inp: str | Path, out: str | Path, device: str = "auto",
                 use_cache: bool = True) -> dict[str, np.ndarray]:
    run = Path(run)
    msst_path, hiarm_path = run / "msst" / "checkpoint.pt", run / "hiarm" / "checkpoint.pt"
    hiarm, hiarm_ckpt = load_hiarm(hiarm_path)
    msst, _ = load_msst(msst_path)
    if hiarm_ckpt["msst_sha256"] != file_sha256(msst_path):
        raise HipartError(f"{hiarm_path} was trained on another MSST checkpoint than {msst_path}; retrain HiARM")
    x_s = load_keypoints(inp)
    dev = pick_device(device)
    result = densify(hiarm.to(dev), msst.to(dev), torch.from_numpy(x_s), use_cache)
    arrays = {"x_s": x_s, "x_d": result["x_d"].numpy(), "x_f": result["x_f"].numpy(),
              "q_s": result["q_s"].numpy(), "q_d": result["q_d"].numpy()}
    with atomic_path(out) as tmp:
        np.savez(tmp, **arrays)
    return arrays

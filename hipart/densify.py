"""Sparse 2D keypoints in, dense and fine 2D levels out, with a trained run's HiARM and MSST."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from hipart.errors import HipartError
from hipart.io import atomic_path
from hipart.models.hipart import HiPART
from hipart.skeleton import H36M

KEYPOINT_KEYS = ("keypoints", "x_s", "positions_2d")
# No image is a million pixels wide: larger keypoints are not pixels (and 1e30 overflows the pose normalization).
MAX_PIXELS = 1e6
# Keypoints farther than this many image sizes outside their image are not a pose the lifter can read.
MAX_OUTSIDE = 10.0


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
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise HipartError(f"{path}: unreadable array file ({type(exc).__name__}: {exc}); give an .npy or .npz of "
                          "(N, 17, 2) pixel keypoints") from None
    return check_keypoints(x, path)


def check_keypoints(x: np.ndarray, path: str | Path) -> np.ndarray:
    """(N, 17, 2) float32 pixel keypoints (a single (17, 2) pose becomes N = 1), or a one-line error."""
    x = np.asarray(x)
    if x.dtype.kind not in "iuf":
        raise HipartError(f"{path}: keypoints are of type {x.dtype}; expected real numbers (pixels)")
    x = x.astype(np.float32)
    J = H36M.num_joints
    if x.shape == (J, 2):
        x = x[None]
    if x.ndim != 3 or x.shape[1:] != (J, 2) or len(x) == 0:
        raise HipartError(f"{path}: keypoints have shape {x.shape}; expected (N, {J}, 2) pixels in Human3.6M order "
                          "with N >= 1")
    if not np.isfinite(x).all():
        raise HipartError(f"{path}: keypoints hold NaN or infinite values; drop or fill those frames first")
    return x


def check_keypoint_range(x: np.ndarray, where: str | Path, image_size: tuple[int, int] | None = None
                         ) -> np.ndarray:
    """Keypoints (..., 2) px whose values can be pixels, or a one-line error (e.g. for 1e30).

    With the ``image_size`` (width, height) they were found in, they must lie within ``MAX_OUTSIDE`` image sizes
    of that image (the lifter reads them relative to it); without one, within ``MAX_PIXELS``.
    """
    reach = float(np.abs(x).max()) if x.size else 0.0
    if image_size is None:
        if reach > MAX_PIXELS:
            raise HipartError(f"{where}: keypoints reach {reach:.3g} px, beyond any image ({MAX_PIXELS:g} px); "
                              "are they pixels?")
        return x
    w, h = image_size
    if reach > MAX_OUTSIDE * max(w, h):
        raise HipartError(f"{where}: keypoints reach {reach:.3g} px, more than {MAX_OUTSIDE:g} image sizes outside "
                          f"a {w} x {h} image; are they pixels of that image?")
    return x


def densify_file(run: str | Path, inp: str | Path, out: str | Path, device: str = "auto",
                 decoding: str = "fast") -> dict[str, np.ndarray]:
    """Densify the keypoints in ``inp`` with the run's HiARM + MSST; write x_s, x_d, x_f (px) and tokens.
    ``decoding``: HiARM's decoding, one of ``hipart.models.hipart.DECODINGS`` (all give the same tokens)."""
    if Path(out).suffix != ".npz":  # numpy would append .npz to the temporary file and leave ``out`` empty
        raise HipartError(f"{out}: the densified levels are written as an .npz archive; give --out NAME.npz")
    model = HiPART.from_run(run, device, with_lifter=False)
    x_s = check_keypoint_range(load_keypoints(inp), inp)
    result = {k: v.cpu().numpy() for k, v in model.densify(x_s, decoding).items()}
    arrays = {"x_s": x_s, **result}
    with atomic_path(out) as tmp:
        np.savez(tmp, **arrays)
    return arrays

"""Keypoint-level occlusion in image space: which joints an occluder hides, and what a detector reports for them.

- ``mask`` (ratio r): the person's box (the 2D joints' bounding box, padded by ``BOX_PADDING``) is split into a
  ``grid`` x ``grid`` set of square-ish cells and round(r * grid^2) cells, drawn at random, are covered.
- ``crop`` (ratio c): a band of c of the box's width (left/right) or height (top/bottom) is removed from a side
  drawn per frame.

An occluded joint gets a detector-like failure: its reported position is displaced by Gaussian noise whose standard
deviation (per axis) is ``error_scale`` times the box diagonal. The default, 0.1, is our assumption; with real
detections (VideoPose3D's CPN archive and its ground-truth 2D archive) ``calibrate_error_scale`` measures it: the
per-axis RMS displacement, in box diagonals, of the joints the detector got wrong (off by more than ``FAILURE`` box
diagonals). Everything is drawn from a numpy Generator, so the same seed gives the same occluded inputs for every
method.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hipart.errors import HipartError

FAILURE = 0.05  # a detection this far (box diagonals) from the truth counts as a failure when calibrating
BOX_PADDING = 0.1  # fraction of the joints' extent added on each side: a person's box is larger than its joints
SIDES = ("left", "right", "top", "bottom")


def person_boxes(x: np.ndarray) -> np.ndarray:
    """(N, J, 2) pixels -> (N, 4) boxes x0, y0, x1, y1 around the joints, padded."""
    lo, hi = x.min(axis=1), x.max(axis=1)
    pad = (hi - lo) * BOX_PADDING
    return np.concatenate([lo - pad, hi + pad], axis=1)


def mask_occlusion(x: np.ndarray, ratio: float, rng: np.random.Generator, grid: int = 8) -> np.ndarray:
    """(N, J) True where a joint falls in one of the covered cells."""
    if not 0.0 <= ratio <= 1.0:
        raise HipartError(f"mask ratio must be in [0, 1], got {ratio}")
    box = person_boxes(x)
    size = np.maximum(box[:, 2:] - box[:, :2], 1e-6)
    cell = np.clip(((x - box[:, None, :2]) / size[:, None] * grid).astype(int), 0, grid - 1)  # (N, J, 2)
    flat = cell[..., 1] * grid + cell[..., 0]
    k = int(round(ratio * grid * grid))
    covered = np.zeros((len(x), grid * grid), dtype=bool)
    for i in range(len(x)):
        covered[i, rng.choice(grid * grid, size=k, replace=False)] = True
    return np.take_along_axis(covered, flat, axis=1)


def crop_occlusion(x: np.ndarray, ratio: float, rng: np.random.Generator, sides: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(N, J) True where a joint lies in the removed band, and the side (index into SIDES) chosen per frame."""
    if not 0.0 <= ratio <= 1.0:
        raise HipartError(f"crop ratio must be in [0, 1], got {ratio}")
    box = person_boxes(x)
    side = rng.integers(0, 4, size=len(x)) if sides is None else np.asarray(sides)
    x0, y0, x1, y1 = (box[:, i:i + 1] for i in range(4))
    u, v = x[..., 0], x[..., 1]
    hidden = np.stack([u < x0 + ratio * (x1 - x0), u > x1 - ratio * (x1 - x0),
                       v < y0 + ratio * (y1 - y0), v > y1 - ratio * (y1 - y0)])  # (4, N, J)
    return hidden[side, np.arange(len(x))], side


@dataclass(frozen=True)
class OcclusionModel:
    error_scale: float = 0.1  # std of an occluded joint's displacement, in box diagonals

    def __post_init__(self) -> None:
        if not (np.isfinite(self.error_scale) and self.error_scale > 0):
            raise HipartError(f"error scale {self.error_scale}: the std of a hidden joint's displacement must be a "
                              "positive number of box diagonals (e.g. 0.1)")

    def corrupt(self, x: np.ndarray, hidden: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Displace the hidden joints like a detector guessing them."""
        box = person_boxes(x)
        diag = np.linalg.norm(box[:, 2:] - box[:, :2], axis=1)[:, None, None]
        noise = rng.normal(size=x.shape) * self.error_scale * diag
        return np.where(hidden[..., None], x + noise, x)

    def mask(self, x: np.ndarray, ratio: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        hidden = mask_occlusion(x, ratio, rng)
        return self.corrupt(x, hidden, rng), hidden

    def crop(self, x: np.ndarray, ratio: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        hidden, _ = crop_occlusion(x, ratio, rng)
        return self.corrupt(x, hidden, rng), hidden

    def augment(self, x: np.ndarray, rng: np.random.Generator, max_ratio: float = 0.5) -> np.ndarray:
        """Training augmentation: per frame, no occlusion (1/3), a mask or a crop (1/3 each) of a ratio drawn
        uniformly in [0, max_ratio]."""
        out = x.copy()
        kind = rng.integers(0, 3, size=len(x))
        for k, fn in ((1, mask_occlusion), (2, lambda p, r, g: crop_occlusion(p, r, g)[0])):
            sel = np.flatnonzero(kind == k)
            if len(sel):
                ratio = float(rng.uniform(0, max_ratio))
                hidden = fn(x[sel], ratio, rng)
                out[sel] = self.corrupt(x[sel], hidden, rng)
        return out


def calibrate_error_scale(detected: np.ndarray, truth: np.ndarray, failure: float = FAILURE) -> dict[str, float]:
    """Fit ``OcclusionModel.error_scale`` to real detections: (N, J, 2) detected and true px -> the per-axis RMS
    displacement of the failed joints in box diagonals (``error_scale``), and the fraction of joints that failed."""
    if detected.shape != truth.shape or detected.ndim != 3 or detected.shape[-1] != 2:
        raise HipartError(f"detections {detected.shape} and ground truth {truth.shape} must both be (N, J, 2) px")
    if not (np.isfinite(detected).all() and np.isfinite(truth).all()):
        raise HipartError("detections or ground truth hold NaN / infinite values; drop those frames first")
    box = person_boxes(truth)
    diag = np.linalg.norm(box[:, 2:] - box[:, :2], axis=1)[:, None]
    d = (detected - truth) / np.maximum(diag, 1e-6)[..., None]
    failed = np.linalg.norm(d, axis=-1) > failure
    if not failed.any():
        raise HipartError(f"no detection is off by more than {failure} box diagonals; the archives look identical")
    return {"error_scale": float(np.sqrt((d[failed] ** 2).mean())), "failed_fraction": float(failed.mean()),
            "joints": int(failed.size)}

"""Occlusion by mask and crop (the paper's Table 1 protocol), for images and for keypoints.

An occluder is defined relative to the person's box (x0, y0, x1, y1 px):

- ``mask`` (ratio r): the box is split into a ``grid`` x ``grid`` set of cells and round(r * grid^2) cells, drawn
  at random, are covered;
- ``crop`` (ratio c): the image is cut at c of the box's width (left/right) or height (top/bottom) from a side
  drawn per frame, and everything beyond the cut is gone.

Image level (:func:`occlude_image`): the covered cells, or the band up to the cut, are painted black; a detector
then looks at the picture. Keypoint level (:class:`OcclusionModel`, for users without images): the joints under
the occluder (:func:`hidden_joints`) get what a detector reports for a hidden joint: with probability
``miss_rate[j]`` a failure, displaced per axis by N(0, ``miss_scale[j]`` box diagonals), otherwise a small error,
N(0, ``hit_scale[j]``). The parameters shipped in ``hipart/resources/keypoint_occlusion.json`` were fitted from
BlazePose's detections of occluded renders of the default data (``hipart bench occlusion --level image``; the
fit is :func:`fit_keypoint_model`); :meth:`OcclusionModel.uniform` gives the older single-scale model, and
:func:`calibrate_error_scale` fits that one scale to real detections (VideoPose3D's CPN archive against its
ground truth). Everything is drawn from a numpy Generator: the same seed gives the same occluders.

Beside the 2D positions, the keypoint model says what confidence c a detector gives (:meth:`OcclusionModel.observe`):
per joint, quantiles of the detector's score on hidden and on visible joints (``confidence_hidden``,
``confidence_visible``), and 0 where a crop's cut leaves the reported joint outside the picture: at keypoint level a
crop *is* truncation, the frame edge cutting the body. A frame with a hidden joint is *lost* (the detector finds
nobody, every c 0) with the probability of a logistic curve in the share of its joints hidden (``lost_logit``);
callers hold a lost frame from its nearest kept neighbour, with that frame's confidence, as test frames without
a detection are held (``hipart.training.inputs.hold_missing``, ``hold_confidence``). A model without fitted
scores gives hidden joints 0, visible ones 1, and loses no frame. All three are fitted with the 2D errors
(:func:`fit_keypoint_model`).

A frame is *truncated* (:func:`truncated_frames`) when one of its joints lies outside the visible picture: outside
the image, or beyond a crop's cut.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields
from importlib import resources
from typing import Any

import numpy as np

from hipart.errors import HipartError
from hipart.skeleton import H36M

FAILURE = 0.05  # a detection this far (box diagonals) from the truth counts as a failure (a "miss")
BOX_PADDING = 0.1  # fraction of the joints' extent added on each side: a person's box is larger than its joints
SIDES = ("left", "right", "top", "bottom")
GRID = 8
KINDS = ("mask", "crop")
FITTED = "keypoint_occlusion.json"
CONFIDENCE_QUANTILES = 21  # stored per joint: the 0th, 5th, ..., 100th percentile of a detector's score
MIN_SCORES = 50  # a joint with fewer scores than this takes the quantiles pooled over all joints


def person_boxes(x: np.ndarray) -> np.ndarray:
    """(N, J, 2) pixels -> (N, 4) boxes x0, y0, x1, y1 around the joints, padded."""
    lo, hi = x.min(axis=1), x.max(axis=1)
    pad = (hi - lo) * BOX_PADDING
    return np.concatenate([lo - pad, hi + pad], axis=1)


def box_diagonals(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) boxes -> (N,) diagonal lengths px."""
    return np.linalg.norm(boxes[:, 2:] - boxes[:, :2], axis=1)


def check_ratio(kind: str, ratio: float) -> float:
    if kind not in KINDS:
        raise HipartError(f"occluder kind must be mask or crop, got '{kind}'")
    if not 0.0 <= ratio <= 1.0:
        raise HipartError(f"{kind} ratio must be in [0, 1], got {ratio}")
    return float(ratio)


@dataclass(frozen=True)
class Occluders:
    """One occluder per frame: covered cells (N, grid, grid) for a mask, the cut side (N,) for a crop."""

    kind: str
    ratio: float
    cells: np.ndarray | None = None
    sides: np.ndarray | None = None

    @property
    def grid(self) -> int:
        return GRID if self.cells is None else self.cells.shape[1]


def draw_occluders(kind: str, ratio: float, n: int, rng: np.random.Generator, grid: int = GRID) -> Occluders:
    """``n`` random occluders of one setting."""
    ratio = check_ratio(kind, ratio)
    if kind == "crop":
        return Occluders(kind, ratio, sides=rng.integers(0, len(SIDES), size=n))
    k = int(round(ratio * grid * grid))
    cells = np.zeros((n, grid * grid), dtype=bool)
    for i in range(n):
        cells[i, rng.choice(grid * grid, size=k, replace=False)] = True
    return Occluders(kind, ratio, cells=cells.reshape(n, grid, grid))


def hidden_joints(x: np.ndarray, boxes: np.ndarray, occ: Occluders) -> np.ndarray:
    """(N, J) True where a joint (N, J, 2) px lies under its frame's occluder (boxes (N, 4))."""
    x0, y0, x1, y1 = (boxes[:, i:i + 1] for i in range(4))
    u, v = x[..., 0], x[..., 1]
    if occ.kind == "crop":
        c = occ.ratio
        hidden = np.stack([u < x0 + c * (x1 - x0), u > x1 - c * (x1 - x0),
                           v < y0 + c * (y1 - y0), v > y1 - c * (y1 - y0)])  # (4, N, J)
        return hidden[occ.sides, np.arange(len(x))]
    g = occ.grid
    size = np.maximum(boxes[:, 2:] - boxes[:, :2], 1e-6)
    rel = (x - boxes[:, None, :2]) / size[:, None]
    inside = ((rel >= 0) & (rel < 1)).all(axis=-1)
    cell = np.clip((rel * g).astype(int), 0, g - 1)
    covered = occ.cells[np.arange(len(x))[:, None], cell[..., 1], cell[..., 0]]
    return covered & inside


def outside_image(x: np.ndarray, image_size: np.ndarray) -> np.ndarray:
    """(..., J) True where a joint (..., J, 2) px lies outside its picture, ``image_size`` (..., 2) width, height px.
    Pixel centres sit at integer coordinates, so a W x H picture spans [-0.5, W - 0.5) x [-0.5, H - 0.5). A NaN
    joint counts as outside."""
    size = np.asarray(image_size, dtype=np.float64)[..., None, :]
    inside = (x >= -0.5) & (x < size - 0.5)
    return ~inside.all(axis=-1)


def observed_confidence(confidence: np.ndarray, x: np.ndarray, image_size: np.ndarray,
                        unseen: np.ndarray | None = None) -> np.ndarray:
    """The per-joint confidence c (N, J) float32 in [0, 1] a model reads beside the observed joints x (N, J, 2) px:
    the detector's ``confidence`` (N, J), 0 for a joint outside its picture (:func:`outside_image`, ``image_size``
    (N, 2) or (2,) width, height px; a NaN joint counts as outside) and 0 where ``unseen`` (N, J) is True (e.g.
    beyond a crop's cut). A detector reports a joint it cannot see with a low but non-zero score (BlazePose:
    0.0-0.15 for legs below the frame), and a joint outside the picture is a guess whatever its score."""
    c = np.clip(np.nan_to_num(np.asarray(confidence, dtype=np.float32)), 0.0, 1.0)
    gone = outside_image(np.asarray(x), np.broadcast_to(np.asarray(image_size, np.float64), (len(c), 2)))
    if unseen is not None:
        gone = gone | np.asarray(unseen, bool)
    return np.where(gone, np.float32(0), c).astype(np.float32)


def truncated_frames(x: np.ndarray, image_size: np.ndarray, cut: np.ndarray | None = None) -> np.ndarray:
    """(N,) True where at least one joint of (N, J, 2) px lies outside the visible picture: outside the image
    (``image_size`` (N, 2) width, height px) or beyond a crop's cut (``cut`` (N, J): :func:`hidden_joints` of a
    crop). A mask covers cells inside the picture without cutting it: give None for a mask and for the clean
    picture, where only the image bounds count."""
    gone = outside_image(x, image_size)
    if cut is not None:
        gone = gone | cut
    return gone.any(axis=1)


def cut_off(kind: str, ratio: float, hidden: np.ndarray) -> np.ndarray | None:
    """The joints a setting cuts off the picture, (N, J) from its ``hidden`` (N, J) joints: a crop removes
    everything beyond its cut, a mask covers cells inside the picture and cuts nothing (None). A crop of 0 leaves
    the picture whole (``occlude_image``) although ``hidden_joints`` counts a joint beyond the box's edge."""
    return hidden if kind == "crop" and ratio > 0 else None


def beyond_cut(x: np.ndarray, boxes: np.ndarray, occ: Occluders | None) -> np.ndarray:
    """(N, J) True where a reported joint of (N, J, 2) px (a detection, NaN where none: never beyond) lies beyond
    ``occ``'s cut, so off the visible picture (:func:`cut_off`); all False for a mask and for no occluder."""
    cut = None if occ is None else cut_off(occ.kind, occ.ratio, hidden_joints(x, boxes, occ))
    return np.zeros(x.shape[:2], bool) if cut is None else cut


def occlude_image(image: np.ndarray, box: np.ndarray, occ: Occluders, i: int, fill: int = 0) -> np.ndarray:
    """A copy of ``image`` (H, W, 3) with frame ``i``'s occluder painted ``fill``: the covered cells of ``box``
    (x0, y0, x1, y1 px), or everything beyond the crop's cut."""
    out = image.copy()
    H, W = out.shape[:2]
    x0, y0, x1, y1 = (float(v) for v in box)
    if occ.kind == "crop":
        c, side = occ.ratio, int(occ.sides[i])
        if c <= 0:
            return out
        cut = (x0 + c * (x1 - x0), x1 - c * (x1 - x0), y0 + c * (y1 - y0), y1 - c * (y1 - y0))[side]
        # Pixel centres sit at integer coordinates: a pixel is gone when its centre lies beyond the cut, exactly
        # where hidden_joints counts a joint as hidden (u < cut on the left, u > cut on the right, ...).
        before, after = int(np.clip(np.ceil(cut), 0, W if side < 2 else H)), \
            int(np.clip(np.floor(cut) + 1, 0, W if side < 2 else H))
        if side == 0:
            out[:, :before] = fill
        elif side == 1:
            out[:, after:] = fill
        elif side == 2:
            out[:before] = fill
        else:
            out[after:] = fill
        return out
    g = occ.grid
    xs, ys = np.linspace(x0, x1, g + 1), np.linspace(y0, y1, g + 1)
    for r, c in zip(*np.nonzero(occ.cells[i])):  # a cell holds the pixel centres in [start, end) along each axis
        a, b = (int(np.clip(np.ceil(v), 0, W)) for v in (xs[c], xs[c + 1]))
        top, bottom = (int(np.clip(np.ceil(v), 0, H)) for v in (ys[r], ys[r + 1]))
        out[top:bottom, a:b] = fill
    return out


def mask_occlusion(x: np.ndarray, ratio: float, rng: np.random.Generator, grid: int = GRID) -> np.ndarray:
    """(N, J) True where a joint falls in one of the covered cells of its joints' (padded) box."""
    return hidden_joints(x, person_boxes(x), draw_occluders("mask", ratio, len(x), rng, grid))


def crop_occlusion(x: np.ndarray, ratio: float, rng: np.random.Generator, sides: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(N, J) True where a joint lies beyond the cut, and the side (index into SIDES) chosen per frame."""
    ratio = check_ratio("crop", ratio)
    occ = draw_occluders("crop", ratio, len(x), rng) if sides is None else Occluders("crop", ratio,
                                                                                    sides=np.asarray(sides))
    return hidden_joints(x, person_boxes(x), occ), occ.sides


def _per_joint(values: Any, name: str, low: float, high: float | None) -> tuple[float, ...]:
    values = tuple(float(v) for v in np.broadcast_to(np.asarray(values, dtype=np.float64), (H36M.num_joints,)))
    if not all(np.isfinite(v) and v >= low and (high is None or v <= high) for v in values):
        raise HipartError(f"keypoint occlusion model: {name} must be {H36M.num_joints} finite values >= {low:g}"
                          + (f" and <= {high:g}" if high is not None else "") + f", got {values}")
    return values


@dataclass(frozen=True)
class OcclusionModel:
    """What a detector reports for a joint it cannot see (see the module docstring); per joint, Human3.6M order."""

    miss_rate: tuple[float, ...] = (1.0,) * H36M.num_joints  # chance a hidden joint is reported wrong
    miss_scale: tuple[float, ...] = (0.1,) * H36M.num_joints  # per-axis std of a miss, box diagonals
    hit_scale: tuple[float, ...] = (0.0,) * H36M.num_joints  # per-axis std of a hidden joint found anyway
    source: str = "assumed: every hidden joint displaced by 0.1 box diagonals"
    # (17, CONFIDENCE_QUANTILES) quantiles of the detector's score on hidden / visible joints; None: 0 / 1
    confidence_hidden: tuple[tuple[float, ...], ...] | None = None
    confidence_visible: tuple[tuple[float, ...], ...] | None = None
    # (a, b): P(no detection in a frame) = sigmoid(a + b * share of its joints hidden); None: never lost
    lost_logit: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "miss_rate", _per_joint(self.miss_rate, "miss_rate", 0.0, 1.0))
        object.__setattr__(self, "miss_scale", _per_joint(self.miss_scale, "miss_scale", 0.0, None))
        object.__setattr__(self, "hit_scale", _per_joint(self.hit_scale, "hit_scale", 0.0, None))
        for name in ("confidence_hidden", "confidence_visible"):
            object.__setattr__(self, name, _quantiles(getattr(self, name), name))
        if self.lost_logit is not None:
            logit = tuple(float(v) for v in np.ravel(self.lost_logit))
            if len(logit) != 2 or not all(np.isfinite(logit)):
                raise HipartError(f"keypoint occlusion model: lost_logit must be two finite numbers (intercept, "
                                  f"slope), got {self.lost_logit}")
            object.__setattr__(self, "lost_logit", logit)

    @classmethod
    def uniform(cls, error_scale: float) -> "OcclusionModel":
        """Every hidden joint displaced per axis by N(0, ``error_scale`` box diagonals)."""
        if not (np.isfinite(error_scale) and error_scale > 0):
            raise HipartError(f"error scale {error_scale}: the std of a hidden joint's displacement must be a "
                              "positive number of box diagonals (e.g. 0.1)")
        return cls((1.0,) * H36M.num_joints, (error_scale,) * H36M.num_joints, (0.0,) * H36M.num_joints,
                   f"every hidden joint displaced by {error_scale:g} box diagonals")

    @classmethod
    def fitted(cls) -> "OcclusionModel":
        """The parameters fitted from image-level detections on the default data (the package's default)."""
        values = json.loads(resources.files("hipart.resources").joinpath(FITTED).read_text())
        return cls.from_dict(values)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "OcclusionModel":
        try:  # the confidence and lost-frame parameters came later: files without them load as before
            return cls(values["miss_rate"], values["miss_scale"], values["hit_scale"], values.get("source", ""),
                       values.get("confidence_hidden"), values.get("confidence_visible"), values.get("lost_logit"))
        except (KeyError, TypeError, ValueError) as exc:
            raise HipartError(f"keypoint occlusion model: missing or malformed parameter ({exc})") from None

    def to_dict(self) -> dict[str, Any]:
        values = {"miss_rate": list(self.miss_rate), "miss_scale": list(self.miss_scale),
                  "hit_scale": list(self.hit_scale), "source": self.source}
        for name in ("confidence_hidden", "confidence_visible", "lost_logit"):
            if getattr(self, name) is not None:
                values[name] = np.asarray(getattr(self, name)).tolist()
        return values

    def fingerprint(self) -> str:
        """A short hash of the parameters: part of the cache keys of inputs made with this model."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    def draw_confidence(self, hidden: np.ndarray, rng: np.random.Generator, visible: np.ndarray | None = None
                        ) -> np.ndarray:
        """(N, J) float32 confidences for frames whose ``hidden`` (N, J) joints a detector cannot see: a hidden
        joint's drawn from the detector's scores on hidden joints (0 when none were fitted); a visible joint keeps
        ``visible`` (N, J) (a detector's own score) or, when None, gets a draw from its scores on visible joints
        (1 when none were fitted)."""
        u = rng.uniform(size=hidden.shape)
        c_hidden = _draw(self.confidence_hidden, u, 0.0)
        c_visible = _draw(self.confidence_visible, u, 1.0) if visible is None else np.asarray(visible, np.float64)
        return np.where(hidden, c_hidden, c_visible).astype(np.float32)

    def lost_frames(self, hidden: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(N,) True for the frames a detector loses, given their ``hidden`` (N, J) joints: never a frame with no
        hidden joint (the clean input stays clean), nor any when the model has no fitted lost_logit."""
        u = rng.uniform(size=len(hidden))
        if self.lost_logit is None:
            return np.zeros(len(hidden), bool)
        a, b = self.lost_logit
        return hidden.any(axis=1) & (u < 1.0 / (1.0 + np.exp(-(a + b * hidden.mean(axis=1)))))

    def observe(self, x: np.ndarray, occ: Occluders, rng: np.random.Generator,
                confidence: np.ndarray | None = None, lose: bool = True) -> "Observation":
        """What a detector reports for the frames (N, J, 2) px behind ``occ``: hidden joints displaced
        (:meth:`corrupt`), confidences drawn (:meth:`draw_confidence`, ``confidence``: the visible joints' own
        scores, None for true keypoints), c = 0 for a joint reported beyond a crop's cut (truncation: it lies off
        the picture) and lost frames (:meth:`lost_frames`: every c 0, the positions left as reported; none
        without ``lose``: a caller that cannot hold a lost frame from another)."""
        boxes = person_boxes(x)
        hidden = hidden_joints(x, boxes, occ)
        seen = self.corrupt(x, hidden, rng)
        c = self.draw_confidence(hidden, rng, confidence)
        cut = beyond_cut(seen, boxes, occ)
        lost = self.lost_frames(hidden, rng) & lose
        c = np.where(cut | lost[:, None], np.float32(0), c)
        return Observation(seen, c, hidden, cut, lost)

    def corrupt(self, x: np.ndarray, hidden: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Displace the hidden joints of (N, J, 2) px like a detector guessing them."""
        diag = box_diagonals(person_boxes(x))[:, None, None]
        miss = rng.uniform(size=hidden.shape) < np.asarray(self.miss_rate)
        scale = np.where(miss, np.asarray(self.miss_scale), np.asarray(self.hit_scale))[..., None] * diag
        noise = rng.normal(size=x.shape) * scale
        return np.where(hidden[..., None], x + noise, x)

    def occlude(self, x: np.ndarray, kind: str, ratio: float, rng: np.random.Generator
                ) -> tuple[np.ndarray, np.ndarray]:
        """(occluded poses, hidden mask) for one setting applied to every frame of (N, J, 2) px."""
        hidden = hidden_joints(x, person_boxes(x), draw_occluders(kind, ratio, len(x), rng))
        return self.corrupt(x, hidden, rng), hidden

    def observe_setting(self, x: np.ndarray, kind: str, ratio: float, rng: np.random.Generator,
                        confidence: np.ndarray | None = None, lose: bool = True) -> "Observation":
        """:meth:`observe` with one setting's occluders drawn for every frame of (N, J, 2) px."""
        return self.observe(x, draw_occluders(kind, ratio, len(x), rng), rng, confidence, lose)

    def mask(self, x: np.ndarray, ratio: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return self.occlude(x, "mask", ratio, rng)

    def crop(self, x: np.ndarray, ratio: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return self.occlude(x, "crop", ratio, rng)

    def augment(self, x: np.ndarray, rng: np.random.Generator, max_ratio: float = 0.5,
                confidence: np.ndarray | None = None, lose: bool = True) -> "Observation":
        """Training augmentation: per frame, no occlusion (1/3), a mask or a crop (1/3 each) of a ratio drawn
        uniformly in [0, max_ratio], observed as :meth:`observe` says (``confidence`` (N, J): the frames' own
        scores, kept for visible joints; None for true keypoints, whose visible joints get drawn scores; ``lose``:
        whether frames may be lost)."""
        n, J = x.shape[:2]
        out = Observation(x.copy(), np.zeros((n, J), np.float32), np.zeros((n, J), bool), np.zeros((n, J), bool),
                          np.zeros(n, bool))
        kind = rng.integers(0, 3, size=n)  # 0 clean, 1 mask, 2 crop
        # clean frames are observed too (a mask of ratio 0: nothing hidden, visible joints' scores drawn)
        for index, occ_kind, occluded in ((1, "mask", True), (2, "crop", True), (0, "mask", False)):
            sel = np.flatnonzero(kind == index)
            if len(sel):
                ratio = float(rng.uniform(0, max_ratio)) if occluded else 0.0
                part = self.observe_setting(x[sel], occ_kind, ratio, rng,
                                            None if confidence is None else confidence[sel], lose)
                for field in fields(Observation):
                    getattr(out, field.name)[sel] = getattr(part, field.name)
        return out


@dataclass(frozen=True)
class Observation:
    """What a detector reports for N frames of J joints (:meth:`OcclusionModel.observe`)."""

    x: np.ndarray  # (N, J, 2) px, hidden joints displaced
    confidence: np.ndarray  # (N, J) float32 in [0, 1]
    hidden: np.ndarray  # (N, J) joints under the occluder
    beyond_cut: np.ndarray  # (N, J) joints reported beyond a crop's cut (confidence 0: off the picture)
    lost: np.ndarray  # (N,) frames without a detection (confidence 0 everywhere)

    def __iter__(self):
        return iter(getattr(self, field.name) for field in fields(self))


def _quantiles(values: Any, name: str) -> tuple[tuple[float, ...], ...] | None:
    if values is None:
        return None
    q = np.asarray(values, dtype=np.float64)
    if q.shape != (H36M.num_joints, CONFIDENCE_QUANTILES) or not np.isfinite(q).all() or (q < 0).any() \
            or (q > 1).any() or (np.diff(q, axis=1) < 0).any():
        raise HipartError(f"keypoint occlusion model: {name} must be {H36M.num_joints} rows of "
                          f"{CONFIDENCE_QUANTILES} ascending quantiles in [0, 1], got shape {q.shape}")
    return tuple(tuple(row) for row in q.tolist())


def _draw(quantiles: tuple[tuple[float, ...], ...] | None, u: np.ndarray, fixed: float) -> np.ndarray:
    """Inverse-CDF draws (N, J) from per-joint quantiles (J, Q) for uniforms ``u`` (N, J); ``fixed`` if None."""
    if quantiles is None:
        return np.full(u.shape, fixed)
    q = np.asarray(quantiles)
    levels = np.linspace(0.0, 1.0, q.shape[1])
    return np.stack([np.interp(u[:, j], levels, q[j]) for j in range(u.shape[1])], axis=1)


def _fit_quantiles(scores: np.ndarray, mask: np.ndarray) -> tuple[tuple[float, ...], ...] | None:
    """Per joint, the CONFIDENCE_QUANTILES quantiles of ``scores`` (N, J) where ``mask`` (N, J); pooled over all
    joints for a joint with fewer than MIN_SCORES; None when nothing is masked."""
    if mask.sum() == 0:
        return None
    levels = np.linspace(0.0, 1.0, CONFIDENCE_QUANTILES)
    pooled = np.quantile(scores[mask], levels)
    rows = [np.quantile(scores[mask[:, j], j], levels) if mask[:, j].sum() >= MIN_SCORES else pooled
            for j in range(scores.shape[1])]
    return tuple(tuple(float(v) for v in np.clip(r, 0, 1)) for r in rows)


def _fit_logistic(share: np.ndarray, lost: np.ndarray, iterations: int = 50) -> tuple[float, float] | None:
    """Maximum-likelihood (a, b) of P(lost) = sigmoid(a + b * share) by Newton's method; a tiny ridge (1e-3, no
    visible effect on thousands of frames) keeps them finite when the classes separate, as on a handful of frames.
    None when no frame or every frame was lost."""
    if not lost.any() or lost.all():
        return None
    X = np.stack([np.ones_like(share), share], axis=1)
    w = np.zeros(2)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(X @ w, -30, 30)))
        grad = X.T @ (p - lost) + 1e-3 * w
        hess = (X * (p * (1 - p))[:, None]).T @ X + 1e-3 * np.eye(2)
        w -= np.linalg.solve(hess, grad)
    return (float(w[0]), float(w[1])) if np.isfinite(w).all() else None


def fit_keypoint_model(detected: np.ndarray, truth: np.ndarray, hidden: np.ndarray, found: np.ndarray,
                       source: str, failure: float = FAILURE, confidence: np.ndarray | None = None) -> OcclusionModel:
    """Fit :class:`OcclusionModel` to a detector's output on occluded images: ``detected`` and ``truth`` (N, 17, 2)
    px, ``hidden`` (N, 17) joints under the occluder, ``found`` (N,) frames with a detection (a frame without one
    counts as a miss of every hidden joint). Per joint, over its hidden instances: the miss rate (error >
    ``failure`` box diagonals, or no detection) and the per-axis RMS error of the detected misses and of the rest,
    in box diagonals of the true joints' padded box. A joint never hidden (or never seen missed) gets the values
    pooled over all joints. With the detector's ``confidence`` (N, 17), also the quantiles of its scores on hidden
    and on visible joints of frames with a detection, and the lost-frame curve (frames without a detection against
    the share of their joints hidden, over the frames with a hidden joint)."""
    if not hidden.any():
        raise HipartError("no joint is hidden in these settings; fit the keypoint model on occluded frames")
    diag = box_diagonals(person_boxes(truth))[:, None, None]
    d = np.where(found[:, None, None], (detected - truth) / np.maximum(diag, 1e-6), np.nan)
    err = np.linalg.norm(d, axis=-1)
    missed = hidden & (~found[:, None] | (err > failure))
    ok = hidden & found[:, None] & (err <= failure)
    seen_missed = missed & found[:, None]

    def fit(h: np.ndarray, m: np.ndarray, o: np.ndarray, sm: np.ndarray, dj: np.ndarray) -> tuple[float, ...]:
        rate = m.sum() / h.sum()
        miss_scale = np.sqrt(np.mean(dj[sm] ** 2)) if sm.any() else np.nan
        hit_scale = np.sqrt(np.mean(dj[o] ** 2)) if o.any() else 0.0
        return float(rate), float(miss_scale), float(hit_scale)

    pooled = fit(hidden, missed, ok, seen_missed, d)
    params = []
    for j in range(truth.shape[1]):
        if not hidden[:, j].any():
            params.append(pooled)
            continue
        rate, miss_scale, hit_scale = fit(hidden[:, j], missed[:, j], ok[:, j], seen_missed[:, j], d[:, j])
        params.append((rate, miss_scale if np.isfinite(miss_scale) else pooled[1], hit_scale))
    rate, miss, hit = zip(*params)
    scores = {}
    if confidence is not None:
        c = np.nan_to_num(np.asarray(confidence, np.float64))
        some = hidden.any(axis=1)  # the lost-frame curve is over frames with a hidden joint, as it is drawn
        scores = {"confidence_hidden": _fit_quantiles(c, hidden & found[:, None]),
                  "confidence_visible": _fit_quantiles(c, ~hidden & found[:, None]),
                  "lost_logit": _fit_logistic(hidden.mean(axis=1)[some], ~found[some])}
    return OcclusionModel(rate, tuple(m if np.isfinite(m) else failure for m in miss), hit, source, **scores)


def calibrate_error_scale(detected: np.ndarray, truth: np.ndarray, failure: float = FAILURE) -> dict[str, float]:
    """Fit the single-scale model (:meth:`OcclusionModel.uniform`) to real detections: (N, J, 2) detected and true
    px -> the per-axis RMS displacement of the failed joints in box diagonals (``error_scale``), and the fraction
    of joints that failed."""
    if detected.shape != truth.shape or detected.ndim != 3 or detected.shape[-1] != 2:
        raise HipartError(f"detections {detected.shape} and ground truth {truth.shape} must both be (N, J, 2) px")
    if not (np.isfinite(detected).all() and np.isfinite(truth).all()):
        raise HipartError("detections or ground truth hold NaN / infinite values; drop those frames first")
    diag = box_diagonals(person_boxes(truth))[:, None]
    d = (detected - truth) / np.maximum(diag, 1e-6)[..., None]
    failed = np.linalg.norm(d, axis=-1) > failure
    if not failed.any():
        raise HipartError(f"no detection is off by more than {failure} box diagonals; the archives look identical")
    return {"error_scale": float(np.sqrt((d[failed] ** 2).mean())), "failed_fraction": float(failed.mean()),
            "joints": int(failed.size)}

"""``hipart bench occlusion``: MPJPE of every method under occlusion by mask and by crop (supplement Table 1).

Two levels (``--level``):

- ``image`` (the paper's protocol; the default when the run's dataset has rendered test images, the detector is
  installed and its joint adapter is fitted): per setting, the test images are occluded (``hipart.occlusion``:
  random grid cells over the person's box, or a band cut from a side), BlazePose looks at them, the adapter maps
  its landmarks to the 17 joints, and every method reads those identical detections. Frames where the detector
  finds nobody are *held* (the nearest frame of the same sequence with a detection, or the training split's mean
  pose): none is dropped, and the share is reported. Detections are cached by the images' and the detector's
  hashes, so adding a method or rerunning costs no detection. ``--frames N`` takes whole test sequences, evenly
  spread, until N frames (so temporal methods see whole sequences). The MPJPE table ends with two rows per
  setting: the frames without a detection and the truncated frames (a true joint outside the image or beyond a
  crop's cut, :func:`hipart.occlusion.truncated_frames`). Beside it: per setting the share of joints under the
  occluder, the detector's 2D error on hidden and on visible joints, those two frame shares; and the
  keypoint-level model's parameters fitted from these detections. Every method reads the detector's per-joint
  confidence too (those built to read it, ``hiarm.confidence`` etc.): 0 for a detected joint outside the image and
  for one beyond a crop's cut (where the detection lies, as an image's edge is judged from the detection: the true
  joints are unknown to a method); a held frame carries the confidence of the frame it is held from.
- ``keypoint`` (for users without images): the true sparse 2D poses are occluded and the hidden joints get what a
  detector reports for them (:class:`hipart.occlusion.OcclusionModel`, by default the parameters fitted at image
  level on the default data; ``--error-scale`` or ``--detections/--truth`` for the single-scale model). A crop
  here is the same cut of the joints' padded box, i.e. truncation. The confidence every method reads is the
  model's: a draw from the detector's scores on hidden joints, 0 for a joint reported beyond a crop's cut, 1 for
  the visible ones (the clean setting: 1 everywhere); frames the model loses (a logistic curve in the share of
  joints hidden) are held like image-level frames without a detection, with their source's confidence. The MPJPE
  table ends with the hidden joints, the lost frames and the truncated frames per setting. A model without fitted scores (the
  single-scale one) gives hidden joints 0 and loses no frame.

Each setting draws its occluders from a generator seeded by (seed, kind, ratio), so a setting gives the same
inputs whatever else runs. ``--compare RUN`` adds another run's methods (e.g. trained on the true keypoints while
this one was trained on detections) on the same detections.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from hipart.bench import reference
from hipart.bench.common import BenchRun, Results
from hipart.bench.methods import lift_methods, predict_lifters, test_frames
from hipart.detect.adapter import JointAdapter
from hipart.detect.blazepose import make_detector
from hipart.detect.cache import CachedDetector
from hipart.detect.dataset import ADAPTER, detections_dir
from hipart.errors import HipartError
from hipart.figures import draw_skeletons_3d, draw_sparse_2d, unseen_joints
from hipart.metrics import mpjpe
from hipart.models.hipart import HiPART
from hipart.occlusion import (KINDS, Observation, OcclusionModel, beyond_cut, box_diagonals, check_ratio, cut_off,
                              draw_occluders, fit_keypoint_model, hidden_joints, observed_confidence, occlude_image,
                              truncated_frames)
from hipart.render.dataset import ImageSet
from hipart.runs import RunLayout
from hipart.skeleton import H36M
from hipart.training.inputs import SplitFrames, hold_confidence, hold_missing, mean_training_pose

MASK_SWEEP = (0.2, 0.4, 0.6, 0.8)
CROP_SWEEP = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)  # 0.5: about waist-up
LEVELS = ("auto", "image", "keypoint")
DEFAULT_FRAMES = 1000  # image level: both sweeps took 7.5 minutes on the demo run, 2 CPU cores (docs/results.md)
CLEAN = "clean"
HIDDEN, NO_DETECTION, TRUNCATED = "hidden joints (%)", "no detection (%)", "truncated frames (%)"
SHARES = (HIDDEN, NO_DETECTION, TRUNCATED)  # rows of the MPJPE table that are frame / joint shares, not methods


def settings_from(masks: tuple[float, ...], crops: tuple[float, ...]) -> list[tuple[str, float]]:
    """The requested settings; none requested means both default sweeps."""
    if not masks and not crops:
        masks, crops = MASK_SWEEP, CROP_SWEEP
    out = [("mask", float(r)) for r in masks] + [("crop", float(c)) for c in crops]
    for kind, ratio in out:
        if not 0.0 <= ratio <= 1.0:
            raise HipartError(f"--{kind} {ratio}: ratios are fractions of the person box, between 0 and 1")
    return out


def column(kind: str, ratio: float) -> str:
    return f"{kind} {ratio:g}"


def setting_rng(seed: int, kind: str, ratio: float) -> np.random.Generator:
    """The generator of one setting's occluders: depends on (seed, kind, ratio) only."""
    return np.random.default_rng([seed, KINDS.index(kind), int(round(ratio * 1000))])


def occluded_inputs(x_s: np.ndarray, kind: str, ratio: float, seed: int, model: OcclusionModel) -> Observation:
    """Keypoint level: what ``model`` says a detector reports for the true poses x_s (N, 17, 2) px under one
    setting (positions, confidence with the visible joints at 1, hidden joints, lost frames); deterministic in
    (seed, kind, ratio)."""
    check_ratio(kind, ratio)  # before setting_rng, which cannot seed from a NaN or negative ratio
    return model.observe_setting(x_s.astype(np.float64), kind, ratio, setting_rng(seed, kind, ratio),
                                 np.ones(x_s.shape[:2], np.float32))


# ---------------------------------------------------------------- image level


@dataclass
class ImageSample:
    """The test frames the image-level sweep uses: whole rendered sequences, rows in dataset order."""

    units: list[dict]  # ImageSet units, in row order of their first frame
    rows: np.ndarray  # (N,) dataset rows, ascending
    boxes: np.ndarray  # (N, 4) the person's (projected mesh) box per frame, px
    truth: SplitFrames  # those frames (true inputs), sequence bounds within the sample


def image_sample(bench: BenchRun, images: ImageSet, frames: int | None, log: Callable[[str], None]) -> ImageSample:
    """Whole test sequences spread evenly over the test split until ``frames`` frames (None: all)."""
    index = images.index("test")
    units = sorted({int(u) for u in index["unit"]}, key=lambda u: int(index["row"][index["unit"] == u].min()))
    sizes = [int((index["unit"] == u).sum()) for u in units]
    if frames is not None and frames < sum(sizes):
        count = next(k for k in range(1, len(units) + 1)
                     if sum(sizes[i] for i in np.linspace(0, len(units) - 1, k).round().astype(int)) >= frames)
        units = [units[i] for i in np.unique(np.linspace(0, len(units) - 1, count).round().astype(int))]
    keep = np.isin(index["unit"], units)
    rows = index["row"][keep]
    all_frames = test_frames(bench, "gt", log)
    mask = np.zeros(len(all_frames), bool)
    mask[rows] = True
    if not np.array_equal(np.flatnonzero(mask), rows):
        raise HipartError(f"{images.root}: the image index repeats a test row; rerun 'hipart data render --force'")
    log(f"image level: {len(rows)} test frames in {len(units)} rendered sequences"
        + (f" (of {len(index['row'])} rendered)" if len(rows) < len(index["row"]) else ""))
    return ImageSample([images.units[u] for u in units], rows, index["box"][keep].astype(np.float64),
                       all_frames.select(mask))


@dataclass
class SettingDetections:
    x_s: np.ndarray  # (N, 17, 2) adapted detections, NaN where nobody was found
    confidence: np.ndarray  # (N, 17) the detector's per-joint confidence, 0 where nobody was found
    found: np.ndarray  # (N,)
    hidden: np.ndarray  # (N, 17) true joints under the occluder
    truncated: np.ndarray  # (N,) frames with a true joint outside the image or beyond a crop's cut
    beyond_cut: np.ndarray  # (N, 17) detected joints beyond a crop's cut (none for a mask or the clean picture)

    def input_confidence(self, image_size: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        """(N, 17) the confidence the methods read: the detector's, 0 for a detected joint outside the image
        (``image_size`` (N, 2)) and for one beyond the cut; a frame without a detection carries the confidence of
        the frame it is held from (sequence bounds ``start``, ``end``; ``hold_confidence``)."""
        c = observed_confidence(self.confidence, self.x_s, image_size, self.beyond_cut)
        return hold_confidence(c, self.found, start, end)


def detect_setting(images: ImageSet, sample: ImageSample, kind: str, ratio: float, seed: int,
                   detector: CachedDetector, adapter: JointAdapter) -> SettingDetections:
    """Occlude the sample's images for one setting, detect, adapt; in sample row order."""
    n = len(sample.rows)
    occ = draw_occluders(kind, ratio, n, setting_rng(seed, kind, ratio)) if kind != CLEAN else None
    position = {int(r): i for i, r in enumerate(sample.rows)}
    x_s = np.full((n, H36M.num_joints, 2), np.nan, np.float32)
    confidence = np.zeros((n, H36M.num_joints), np.float32)
    found = np.zeros(n, bool)
    for unit in sample.units:
        idx = [position[int(r)] for r in images.record(unit)["rows"]]
        frames = list(images.unit_images(unit))
        if occ is not None:
            frames = [occlude_image(f, sample.boxes[i], occ, i) for f, i in zip(frames, idx)]
        det = adapter.apply(detector.detect(frames))
        x_s[idx], confidence[idx], found[idx] = det.keypoints, det.confidence, det.detected
    truth = sample.truth.x_s_true.astype(np.float64)
    hidden = np.zeros((n, H36M.num_joints), bool) if occ is None else hidden_joints(truth, sample.boxes, occ)
    truncated = truncated_frames(truth, sample.truth.image_size, cut_off(kind, ratio, hidden))
    # where the detections lie against a crop's cut; a mask cuts nothing
    return SettingDetections(x_s, confidence, found, hidden, truncated,
                             beyond_cut(x_s.astype(np.float64), sample.boxes, occ))


def detection_stats(det: SettingDetections, truth: np.ndarray, boxes: np.ndarray) -> dict[str, float]:
    """Hidden-joint share, the shares of frames without a detection and of truncated frames, and the detector's 2D
    error (px) on hidden and visible joints of frames with a detection."""
    err = np.linalg.norm(det.x_s - truth, axis=-1)  # NaN where nothing was found
    seen = det.found[:, None] & np.ones_like(det.hidden)
    hid, vis = seen & det.hidden, seen & ~det.hidden
    diag = box_diagonals(boxes)[:, None] * np.ones_like(err)
    return {HIDDEN: 100 * float(det.hidden.mean()),
            NO_DETECTION: 100 * float((~det.found).mean()),
            TRUNCATED: 100 * float(det.truncated.mean()),
            "2D error hidden (px)": float(err[hid].mean()) if hid.any() else np.nan,
            "2D error visible (px)": float(err[vis].mean()) if vis.any() else np.nan,
            "2D error hidden (box diag.)": float((err[hid] / diag[hid]).mean()) if hid.any() else np.nan}


def images_available(bench: BenchRun) -> tuple[bool, str]:
    """Can the image-level protocol run here, and if not, why."""
    if importlib.util.find_spec("mediapipe") is None:
        return False, "the detector is not installed (pip install -e '.[images]')"
    try:
        ImageSet(bench.data_dir).index("test")
    except HipartError as exc:
        return False, str(exc)
    if not (detections_dir(bench.data_dir) / ADAPTER).is_file():
        return False, f"no joint adapter in {detections_dir(bench.data_dir)} ('hipart detect --data {bench.data_dir}')"
    return True, ""


# ---------------------------------------------------------------- the benchmark


def run_occlusion(bench: BenchRun, out: str | Path, masks: tuple[float, ...] = (), crops: tuple[float, ...] = (),
                  seed: int = 0, level: str = "auto", frames: int | None = DEFAULT_FRAMES,
                  model: OcclusionModel | None = None, compare: str | Path | None = None,
                  device: torch.device = torch.device("cpu"), log: Callable[[str], None] = print) -> Results:
    settings = settings_from(masks, crops)
    if level not in LEVELS:
        raise HipartError(f"--level must be one of {', '.join(LEVELS)}, got '{level}'")
    if frames is not None and frames < 1:
        raise HipartError(f"--frames {frames}: give a positive number of test frames (or omit it)")
    ok, why = images_available(bench)
    if level == "auto":
        level = "image" if ok else "keypoint"
        if not ok:
            log(f"keypoint level: {why}")
    elif level == "image" and not ok:
        raise HipartError(f"--level image: {why}")
    runs = [(bench, "")] + ([(BenchRun.open(compare, bench.data_dir), f" [{RunLayout(compare).root.name}]")]
                            if compare is not None else [])
    methods = {suffix: lift_methods(b) for b, suffix in runs}
    for b, suffix in runs:
        for m in methods[suffix]:
            if not m.present:
                log(f"{m.label}{suffix}: no checkpoint in {m.stage.path}; listed as missing"
                    + (f" (train: {m.train_hint})" if m.train_hint else ""))
    if level == "image":
        return _image_level(bench, runs, methods, out, settings, seed, frames, device, log)
    return _keypoint_level(bench, runs, methods, out, settings, seed, model or OcclusionModel.fitted(), device, log)


def _score(runs: list[tuple[BenchRun, str]], methods: dict, frames: SplitFrames, device: torch.device,
           log: Callable[[str], None]) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """MPJPE (mm, average over frames) of every present method on ``frames``, and the predictions."""
    truth = torch.from_numpy(frames.X_s - frames.X_s[:, :1])
    scores, preds = {}, {}
    for b, suffix in runs:
        for label, X in predict_lifters(b, methods[suffix], frames, device, log).items():
            scores[label + suffix] = float(mpjpe(X, truth).mean())
            preds[label + suffix] = X.numpy()
    return scores, preds


def _keypoint_level(bench: BenchRun, runs: list, methods: dict, out: str | Path, settings: list[tuple[str, float]],
                    seed: int, model: OcclusionModel, device: torch.device, log: Callable[[str], None]) -> Results:
    clean = test_frames(bench, "gt", log)
    log(f"keypoint level: {len(clean)} test frames; hidden joints: {model.source}")
    truth = clean.x_s_true.astype(np.float64)
    mean_pose = mean_training_pose(bench.data_dir)
    scores = {CLEAN: _score(runs, methods, clean, device, log)[0]}
    shares = {CLEAN: {HIDDEN: 0.0, NO_DETECTION: 0.0,
                      TRUNCATED: 100 * float(truncated_frames(truth, clean.image_size).mean())}}
    for kind, ratio in settings:
        col = column(kind, ratio)
        seen = occluded_inputs(clean.x_s, kind, ratio, seed, model)
        # the keypoint-level crop hides the joints beyond a cut of the true joints' padded box: those are cut off.
        # The box is padded by 0.1 of the joints' extent a side (hipart.occlusion.BOX_PADDING), so a crop above
        # 0.1 / 1.2 reaches past the outermost joint: every frame of such a crop counts as truncated.
        truncated = truncated_frames(truth, clean.image_size, cut_off(kind, ratio, seen.hidden))
        shares[col] = {HIDDEN: 100 * float(seen.hidden.mean()), NO_DETECTION: 100 * float(seen.lost.mean()),
                       TRUNCATED: 100 * float(truncated.mean())}
        log(f"{col}: {seen.hidden.mean():.1%} of joints hidden, {seen.lost.mean():.1%} of frames lost, "
            f"{truncated.mean():.1%} truncated")
        # frames the model loses are held from the nearest kept frame of the sequence, as at image level
        x, held = hold_missing(seen.x.astype(np.float32), ~seen.lost, clean.start, clean.end, mean_pose)
        c = hold_confidence(seen.confidence, ~seen.lost, clean.start, clean.end)
        scores[col] = _score(runs, methods, clean.with_inputs(x, held=held, confidence=c), device, log)[0]
    table = _with_shares(_mpjpe_table(scores, runs, methods), shares)
    results = Results(out, "occlusion", bench, {"level": "keypoint", "settings": [list(s) for s in settings],
                                                "seed": seed, "frames": len(clean), "keypoint_model": model.to_dict(),
                                                "compare": [str(b.run) for b, _ in runs[1:]]})
    _tables(results, table, bench, "keypoint level: hidden joints displaced like a detector's misses")
    results.plot(_plot(table, settings), "occlusion")
    results.finish(_missing_notes(runs, methods) + [
        f"Keypoint level; hidden joints: {model.source}.",
        "Truncated frames: a true joint outside the image or, for a crop, beyond its cut."])
    return results


def _image_level(bench: BenchRun, runs: list, methods: dict, out: str | Path, settings: list[tuple[str, float]],
                 seed: int, frames: int | None, device: torch.device, log: Callable[[str], None]) -> Results:
    images = ImageSet(bench.data_dir)
    sample = image_sample(bench, images, frames, log)
    adapter = JointAdapter.load(detections_dir(bench.data_dir) / ADAPTER)
    detector = CachedDetector(make_detector("blazepose"), detections_dir(bench.data_dir) / "cache")
    mean_pose = mean_training_pose(bench.data_dir)
    truth = sample.truth.x_s_true
    scores, stats, preds, inputs = {}, {}, {}, {}
    occluded: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    for kind, ratio in [(CLEAN, 0.0), *settings]:
        col = CLEAN if kind == CLEAN else column(kind, ratio)
        det = detect_setting(images, sample, kind, ratio, seed, detector, adapter)
        stats[col] = detection_stats(det, truth, sample.boxes)
        x, held = hold_missing(det.x_s, det.found, sample.truth.start, sample.truth.end, mean_pose)
        t = sample.truth
        frames_in = t.with_inputs(x, held=held, confidence=det.input_confidence(t.image_size, t.start, t.end))
        scores[col], preds[col] = _score(runs, methods, frames_in, device, log)
        inputs[col] = (x, det)
        if kind != CLEAN:
            occluded.append((det.x_s, det.hidden, det.found, det.confidence))
        log(f"{col}: {stats[col][HIDDEN]:.1f} % of joints hidden, {stats[col][NO_DETECTION]:.1f} % frames without "
            f"a detection, {stats[col][TRUNCATED]:.1f} % truncated; detector error hidden "
            f"{stats[col]['2D error hidden (px)']:.1f} px, visible {stats[col]['2D error visible (px)']:.1f} px "
            f"({detector.hits} cached, {detector.misses} new)")
    table = _with_shares(_mpjpe_table(scores, runs, methods),
                         {col: {k: s[k] for k in (NO_DETECTION, TRUNCATED)} for col, s in stats.items()})
    stats_table = pd.DataFrame(stats).T
    stats_table.index.name = "setting"
    fitted = None
    if occluded:
        det_all, hid_all, found_all = (np.concatenate([o[i] for o in occluded]) for i in range(3))
        reps = len(occluded)
        conf_all = np.concatenate([o[3] for o in occluded])
        fitted = fit_keypoint_model(np.nan_to_num(det_all), np.tile(truth, (reps, 1, 1)), hid_all, found_all,
                                    f"fitted from BlazePose on {len(sample.rows)} occluded test renders x {reps} "
                                    f"settings ({bench.data_label})", confidence=conf_all)
    results = Results(out, "occlusion", bench, {
        "level": "image", "settings": [list(s) for s in settings], "seed": seed, "frames": len(sample.rows),
        "sequences": len(sample.units), "detector": detector.detector.fingerprint(), "adapter": str(
            detections_dir(bench.data_dir) / ADAPTER), "fitted_keypoint_model": fitted.to_dict() if fitted else None,
        "compare": [str(b.run) for b, _ in runs[1:]], "keypoints_trained_on": [b.cfg.keypoints for b, _ in runs]})
    _tables(results, table, bench, f"image level: occluded renders seen by BlazePose, {len(sample.rows)} test frames")
    results.table(stats_table, "detector", f"The detector per setting (image level, {len(sample.rows)} test frames): "
                                           "joints under the occluder, frames without a detection (held: nearest "
                                           "detected frame of the sequence, else the mean pose), truncated frames (a "
                                           "true joint outside the image or beyond a crop's cut), 2D error", ".2f")
    if fitted is not None:
        model_table = pd.DataFrame({"miss rate": fitted.miss_rate, "miss scale (box diag.)": fitted.miss_scale,
                                    "hit scale (box diag.)": fitted.hit_scale}, index=list(H36M.names))
        model_table.index.name = "joint"
        results.table(model_table, "keypoint_model", "Keypoint-level occlusion model fitted from these detections "
                                                     "(hidden joints, all occluded settings together)", ".3f")
        results.json(fitted.to_dict(), "keypoint_model")  # --keypoint-model FILE reads it back
    results.plot(_plot(table, settings), "occlusion")
    figure = _figure(bench, sample, images, settings, seed, inputs, preds, device)
    if figure is not None:
        results.plot(figure, "qualitative")
    results.finish(_missing_notes(runs, methods) + [
        "Image level: per setting the test renders are occluded (black cells / a cut band), BlazePose detects, the "
        "joint adapter maps to 17 joints; frames without a detection are held from the nearest detected frame of "
        "the sequence (else the training split's mean pose) and scored like the others.",
        "Truncated frames: a true joint outside the image or, for a crop, beyond its cut.",
        f"Methods trained on {', '.join(sorted({b.cfg.keypoints for b, _ in runs}))} keypoints."])
    return results


def _mpjpe_table(scores: dict[str, dict[str, float]], runs: list, methods: dict) -> pd.DataFrame:
    table = pd.DataFrame(scores)
    for _, suffix in runs:
        for m in methods[suffix]:
            if not m.present:
                table.loc[m.label + suffix] = np.nan
    table.index.name = "method"
    return table


def _with_shares(table: pd.DataFrame, shares: dict[str, dict[str, float]]) -> pd.DataFrame:
    """The MPJPE table (methods x settings) with one row per share (%) below the methods; ``shares`` maps a
    setting's column to its shares by row name."""
    out = table.copy()
    for row in SHARES:
        if any(row in per for per in shares.values()):
            out.loc[row] = pd.Series({col: per.get(row, np.nan) for col, per in shares.items()})
    return out


def _missing_notes(runs: list, methods: dict) -> list[str]:
    missing = [m.label + suffix for _, suffix in runs for m in methods[suffix] if not m.present]
    return [f"Missing (no checkpoint): {', '.join(missing)}"] if missing else []


def _tables(results: Results, table: pd.DataFrame, bench: BenchRun, how: str) -> None:
    results.table(table, "occlusion_mpjpe", f"MPJPE (mm) under occlusion ({how}), {bench.data_label}")
    results.table(_with_deltas(table), "occlusion", f"MPJPE (mm) and change from the unoccluded input ({how}), "
                                                    f"{bench.data_label}")
    results.table(_paper_table(), "paper_reference", f"Paper reference (Table 1): {reference.SOURCE}")


def _with_deltas(table: pd.DataFrame) -> pd.DataFrame:
    out = table.copy().astype(object)
    for label in table.index:
        clean = table.loc[label, CLEAN]
        for col in table.columns:
            v = table.loc[label, col]
            if label in SHARES or col == CLEAN or not np.isfinite(v):
                out.loc[label, col] = "missing" if not np.isfinite(v) else f"{v:.1f}"
            else:
                out.loc[label, col] = f"{v:.1f} ({v - clean:+.1f})"
    return out


def _paper_table() -> pd.DataFrame:
    rows = {f"{method} [paper]": {column(kind, r): v for r, v in values.items()}
            for kind, per in reference.OCCLUSION.items() for method, values in per.items()}
    table = pd.DataFrame(rows).T
    table.index.name = "method"
    return table


def _plot(table: pd.DataFrame, settings: list[tuple[str, float]]) -> plt.Figure:
    kinds = [k for k in KINDS if any(s[0] == k for s in settings)]
    fig, axes = plt.subplots(1, len(kinds), figsize=(5.5 * len(kinds), 4), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        ratios = [0.0] + sorted({r for k, r in settings if k == kind and r > 0})
        cols = [CLEAN] + [column(kind, r) for r in ratios[1:]]
        for label in table.index.drop(list(SHARES), errors="ignore"):  # shares are no method's MPJPE
            values = table.loc[label, cols].astype(float)
            if values.notna().any():
                ax.plot(ratios, values, marker="o", label=label)
        ax.set_xlabel(f"{kind} ratio")
        ax.set_ylabel("MPJPE (mm)")
        ax.set_title(f"occlusion by {kind}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return fig


def _figure(bench: BenchRun, sample: ImageSample, images: ImageSet, settings: list[tuple[str, float]], seed: int,
            inputs: dict, preds: dict, device: torch.device) -> plt.Figure | None:
    """Fig. 8-like: for one mask and one crop setting, a frame's occluded image with the detected 2D (joints the
    detector did not see marked) and HiPART's 48/96 joints, beside the 3D of HiPART, the diffusion baseline and the
    truth."""
    occluded = [(k, r) for k, r in settings if r > 0]
    chosen = [s for s in occluded if s[0] == "mask"][:1] + [s for s in occluded if s[0] == "crop"][-1:]
    hipart_label = next((k for k in preds.get(CLEAN, {}) if k.startswith("HiPART")), None)
    if not chosen or hipart_label is None:
        return None
    model = HiPART.from_run(bench.run, device, with_lifter=False)
    i = len(sample.rows) // 3
    unit = next(u for u in sample.units if int(sample.rows[i]) in images.record(u)["rows"])
    frame = list(images.unit_images(unit))[images.record(unit)["rows"].index(int(sample.rows[i]))]
    fig = plt.figure(figsize=(11, 4.6 * len(chosen)))
    truth = sample.truth.X_s[i] - sample.truth.X_s[i, :1]
    for r, (kind, ratio) in enumerate(chosen):
        col = column(kind, ratio)
        occ = draw_occluders(kind, ratio, len(sample.rows), setting_rng(seed, kind, ratio))
        image = occlude_image(frame, sample.boxes[i], occ, i)
        x, det = inputs[col]
        c = det.input_confidence(sample.truth.image_size, sample.truth.start, sample.truth.end)[i:i + 1] \
            if model.hiarm.cfg.confidence else None
        levels = model.densify(x[i:i + 1], confidence=c)
        x0, y0, x1, y1 = sample.boxes[i]
        pad = 0.15 * max(x1 - x0, y1 - y0)
        ax = fig.add_subplot(len(chosen), 2, 2 * r + 1)
        ax.imshow(image)
        if det.found[i]:
            ax.scatter(*levels["x_f"][0].cpu().numpy().T, s=6, c="tab:orange", label="HiPART fine (96)")
            ax.scatter(*levels["x_d"][0].cpu().numpy().T, s=14, marker="s", facecolors="none", edgecolors="lime",
                       label="HiPART dense (48)")
            draw_sparse_2d(ax, x[i], unseen_joints(x[i], image.shape[1::-1], det.confidence[i]), "deepskyblue",
                           "detected (17)")
        else:
            ax.set_title("no detection (held input)")
        ax.set_xlim(x0 - pad, x1 + pad)
        ax.set_ylim(y1 + pad, y0 - pad)
        ax.set_title(f"{col}: occluded render, detection and HiPART's levels", fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
        ax.set_axis_off()
        ax3 = fig.add_subplot(len(chosen), 2, 2 * r + 2, projection="3d")
        shown = [(truth, "k", "ground truth"), (preds[col][hipart_label][i], "tab:orange", "HiPART")]
        diff = next((k for k in preds[col] if k.startswith("diffpose")), None)
        if diff is not None:
            shown.append((preds[col][diff][i], "tab:purple", diff))
        draw_skeletons_3d(ax3, shown)
        errs = ", ".join(f"{lab.split(' (')[0]} {np.linalg.norm(p - truth, axis=-1).mean():.0f} mm"
                         for p, _, lab in shown[1:])
        ax3.set_title(f"3D: {errs}", fontsize=9)
        ax3.legend(fontsize=7)
    fig.tight_layout()
    return fig

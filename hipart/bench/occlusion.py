"""``hipart bench occlusion``: MPJPE of every method when the sparse 2D input is occluded by masks or crops
(supplement Table 1).

The test split's true sparse 2D poses are occluded in image space (``hipart.occlusion``); each setting draws
its occluders from a generator seeded by (seed, kind, ratio), so a setting gives the same inputs whatever else runs,
and every method reads exactly those inputs. The paper occludes the images and runs CPN; without images we occlude
the keypoints and give the hidden ones a detector-like error (calibrated from real detections when given).
"""

from __future__ import annotations

from typing import Callable

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from hipart.bench import reference
from hipart.bench.common import BenchRun, Results
from hipart.bench.methods import evaluate_lifters, lift_methods, test_frames
from hipart.errors import HipartError
from hipart.occlusion import OcclusionModel

MASK_SWEEP = (0.2, 0.4, 0.6, 0.8)
CROP_SWEEP = (0.0, 0.1, 0.2, 0.3, 0.4)
KINDS = ("mask", "crop")


def settings_from(masks: tuple[float, ...], crops: tuple[float, ...]) -> list[tuple[str, float]]:
    """The requested settings; none requested means both default sweeps."""
    if not masks and not crops:
        masks, crops = MASK_SWEEP, CROP_SWEEP
    out = [("mask", float(r)) for r in masks] + [("crop", float(c)) for c in crops]
    for kind, ratio in out:
        if not 0.0 <= ratio <= 1.0:
            raise HipartError(f"--{kind} {ratio}: ratios are fractions of the person box, between 0 and 1")
    return out


def occluded_inputs(x_s: np.ndarray, kind: str, ratio: float, seed: int, model: OcclusionModel
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(occluded poses, hidden mask) for one setting; deterministic in (seed, kind, ratio)."""
    rng = np.random.default_rng([seed, KINDS.index(kind), int(round(ratio * 1000))])
    return getattr(model, kind)(x_s.astype(np.float64), ratio, rng)


def column(kind: str, ratio: float) -> str:
    return f"{kind} {ratio:g}"


def run_occlusion(bench: BenchRun, out: str, masks: tuple[float, ...] = (), crops: tuple[float, ...] = (),
                  seed: int = 0, error_scale: float | None = None, calibration: dict[str, float] | None = None,
                  device: torch.device = torch.device("cpu"), log: Callable[[str], None] = print) -> Results:
    settings = settings_from(masks, crops)
    model = OcclusionModel(error_scale if error_scale is not None else
                           calibration["error_scale"] if calibration else OcclusionModel.error_scale)
    methods = lift_methods(bench)
    missing = [m for m in methods if not m.present]
    for m in missing:
        log(f"{m.label}: no checkpoint in {m.stage.path}; listed as missing" + (f" (train: {m.train_hint})"
                                                                             if m.train_hint else ""))
    clean = test_frames(bench, "gt", log)
    x_s = clean.x_s
    log(f"clean inputs: {len(x_s)} test frames, {sum(m.present for m in methods)} methods")
    scores = {"clean": evaluate_lifters(bench, methods, clean, device, log)}
    hidden_share = {"clean": 0.0}
    for kind, ratio in settings:
        col = column(kind, ratio)
        x, hidden = occluded_inputs(x_s, kind, ratio, seed, model)
        hidden_share[col] = float(hidden.mean())
        log(f"{col}: {hidden.mean():.1%} of joints hidden")
        scores[col] = evaluate_lifters(bench, methods, clean.with_inputs(x), device, log)
    mpjpe = pd.DataFrame({col: {label: t.loc["Average", "MPJPE"] for label, t in tables.items()}
                          for col, tables in scores.items()})
    for m in missing:
        mpjpe.loc[m.label] = np.nan
    mpjpe.index.name = "method"
    mpjpe.loc["hidden joints (%)"] = pd.Series(hidden_share) * 100
    results = Results(out, "occlusion", bench, {"settings": [list(s) for s in settings], "seed": seed,
                                                "error_scale": model.error_scale, "calibration": calibration})
    results.table(mpjpe, "occlusion_mpjpe", f"MPJPE (mm) under occlusion, {bench.data_label}")
    results.table(_with_deltas(mpjpe), "occlusion", f"MPJPE (mm) and change from the clean input, "
                                                    f"{bench.data_label}")
    results.table(_paper_table(), "paper_reference", f"Paper reference (Table 1): {reference.SOURCE}")
    results.plot(_plot(mpjpe.drop(index="hidden joints (%)"), settings), "occlusion")
    notes = [f"Missing (no checkpoint): {', '.join(m.label for m in missing)}"] if missing else []
    notes.append(f"Occluded joints displaced with std {model.error_scale:g} box diagonals per axis"
                 + (" (calibrated from real detections)" if calibration else " (default assumption)"))
    results.finish(notes)
    return results


def _with_deltas(mpjpe: pd.DataFrame) -> pd.DataFrame:
    out = mpjpe.copy().astype(object)
    for label in mpjpe.index:
        clean = mpjpe.loc[label, "clean"]
        for col in mpjpe.columns:
            v = mpjpe.loc[label, col]
            if label == "hidden joints (%)" or col == "clean" or not np.isfinite(v):
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


def _plot(mpjpe: pd.DataFrame, settings: list[tuple[str, float]]) -> plt.Figure:
    kinds = [k for k in KINDS if any(s[0] == k for s in settings)]
    fig, axes = plt.subplots(1, len(kinds), figsize=(5.5 * len(kinds), 4), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        ratios = [0.0] + sorted({r for k, r in settings if k == kind and r > 0})
        cols = ["clean"] + [column(kind, r) for r in ratios[1:]]
        for label in mpjpe.index:
            values = mpjpe.loc[label, cols].astype(float)
            if values.notna().any():
                ax.plot(ratios, values, marker="o", label=label)
        ax.set_xlabel(f"{kind} ratio")
        ax.set_ylabel("MPJPE (mm)")
        ax.set_title(f"occlusion by {kind}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return fig

"""``hipart bench probe``: the levels probe. How much of the 3D pose the 2D levels carry, measured in seconds by
closed-form ridge regressions, before any network is trained (docs/design.md, "The lifter").

For each input (the sparse 17 joints; sparse + dense; all three levels) the probe standardizes the flattened,
screen-normalized 2D coordinates on the training split and fits a ridge regression to the root-relative 3D joints
(mm) on two feature sets:

- linear: the standardized coordinates themselves;
- quadratic: the leading ``QUADRATIC_COMPONENTS`` principal components of those coordinates (all of them when
  there are fewer) and every product of two of them (a full second-order polynomial).

The ridge strength is chosen on one held-out training subject (the split's last; the last fifth of the frames when
the split has a single subject), the model is refitted on the whole training split and scored once on the test
split. Everything is deterministic: no sampling besides an evenly spaced subset of at most ``max_frames``
training frames. The toy experiment of the paper (the sparse lifter against the lifter given the true dense
levels) is the same question asked of a trained network; a lifter that does not beat the probe on its own input
leaves accuracy unused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from hipart.bench.common import BenchRun, Results, data_label
from hipart.camera import normalize_pixels
from hipart.data.dataset import PoseDataset, load_manifest
from hipart.errors import HipartError
from hipart.metrics import mpjpe, per_action_table
from hipart.runs import RunLayout
from hipart.skeleton import H36M, H36M_ACTIONS
from hipart.training.inputs import split_frames
from hipart.training.lifter import densified_levels

QUADRATIC_COMPONENTS = 64  # principal components whose pairwise products make the quadratic features
RIDGE_STRENGTHS = tuple(10.0 ** k for k in range(-7, 2))  # lambda, relative to the number of frames
MAX_TRAIN_FRAMES = 60_000
INPUTS = {  # probe input -> the levels it stacks
    "sparse": ("x_s",),
    "sparse + dense": ("x_s", "x_d"),
    "all levels": ("x_s", "x_d", "x_f"),
}
HIPART_INPUT = "sparse + HiPART's levels"  # the sparse pose with HiARM + MSST's dense and fine levels
LIFTER_OF_INPUT = {"sparse": "sparse", "all levels": "gt-hier", HIPART_INPUT: "hier"}  # lifters of the same input
FEATURES = ("linear", "quadratic")


@dataclass(frozen=True)
class Standardizer:
    """z = (x - mean) / std per column, fitted on the training rows (a constant column keeps std 1)."""

    mean: np.ndarray  # (C,)
    std: np.ndarray  # (C,)

    @classmethod
    def fit(cls, x: np.ndarray) -> "Standardizer":
        std = x.std(axis=0)
        return cls(x.mean(axis=0), np.where(std > 1e-12 * max(1.0, float(np.abs(x).max())), std, 1.0))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.std


def principal_axes(z: np.ndarray, count: int) -> np.ndarray:
    """(C, min(count, C)) leading principal directions of the rows of z (N, C), largest variance first; each
    direction's sign is fixed (its largest entry positive) so the result does not depend on the SVD routine."""
    centred = z - z.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt[:min(count, z.shape[1])].T
    signs = np.sign(axes[np.abs(axes).argmax(axis=0), np.arange(axes.shape[1])])
    return axes * np.where(signs == 0, 1.0, signs)


def quadratic_features(p: np.ndarray) -> np.ndarray:
    """(N, k) -> (N, k + k (k + 1) / 2): the columns and every product p_i p_j with i <= j."""
    i, j = np.triu_indices(p.shape[1])
    return np.concatenate([p, p[:, i] * p[:, j]], axis=1)


@dataclass(frozen=True)
class Ridge:
    """y = (x - x_mean) @ W + y_mean, the minimiser of |y - f(x)|^2 / N + lam |W|^2 over centred columns."""

    x_mean: np.ndarray  # (F,)
    W: np.ndarray  # (F, T)
    y_mean: np.ndarray  # (T,)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return (x - self.x_mean) @ self.W + self.y_mean


def fit_ridges(x: np.ndarray, y: np.ndarray, strengths: tuple[float, ...]) -> list[Ridge]:
    """One ridge regression of y (N, T) on x (N, F) per strength lam (relative to N), from one eigendecomposition of
    the Gram matrix; the columns of x are centred, not scaled (standardize them first where scales differ)."""
    x_mean, y_mean = x.mean(axis=0), y.mean(axis=0)
    xc = x - x_mean
    gram = xc.T @ xc / len(x)
    evals, evecs = np.linalg.eigh(gram)
    projected = evecs.T @ (xc.T @ (y - y_mean) / len(x))  # (F, T)
    return [Ridge(x_mean, evecs @ (projected / (np.maximum(evals, 0.0) + lam)[:, None]), y_mean)
            for lam in strengths]


def _mean_joint_error(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.asarray(mpjpe(pred.reshape(len(pred), -1, 3), y.reshape(len(y), -1, 3)))


class Featurizer:
    """Flattened 2D inputs -> linear or quadratic features, fitted on training rows."""

    def __init__(self, x_train: np.ndarray, kind: str, components: int = QUADRATIC_COMPONENTS) -> None:
        if kind not in FEATURES:
            raise HipartError(f"unknown probe features '{kind}'; use {' or '.join(FEATURES)}")
        self.kind, self.scale = kind, Standardizer.fit(x_train)
        z = self.scale(x_train)
        # Principal components keep their variances: products of low-variance components are penalized more.
        self.axes = principal_axes(z, components) if kind == "quadratic" else None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        z = self.scale(x)
        return z if self.axes is None else quadratic_features(z @ self.axes)


@dataclass(frozen=True)
class ProbeFit:
    strength: float  # the chosen lam
    features: int
    train_error: np.ndarray  # (N_train,) mm per frame after the refit
    test_error: np.ndarray  # (N_test,) mm per frame
    predict: Callable[[np.ndarray], np.ndarray]  # flattened 2D -> flattened 3D


def probe(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
          held_out: np.ndarray, kind: str, components: int = QUADRATIC_COMPONENTS,
          strengths: tuple[float, ...] = RIDGE_STRENGTHS) -> ProbeFit:
    """Fit one probe: inputs (N, C) -> targets (N, T), the strength chosen on the training rows where ``held_out``
    (N_train,) is True (fitted on the others), then refitted on every training row. Errors are mean Euclidean
    distances over the targets' 3-vectors (mm when the targets are joints in mm)."""
    held_out = np.asarray(held_out, bool)
    if held_out.all() or not held_out.any():
        raise HipartError("the probe needs training frames both to fit and to choose the ridge strength on")
    fit_rows = ~held_out
    featurize = Featurizer(x_train[fit_rows], kind, components)
    candidates = fit_ridges(featurize(x_train[fit_rows]), y_train[fit_rows], strengths)
    f_held = featurize(x_train[held_out])
    scores = [float(_mean_joint_error(r(f_held), y_train[held_out]).mean()) for r in candidates]
    best = strengths[int(np.argmin(scores))]
    featurize = Featurizer(x_train, kind, components)
    f_train = featurize(x_train)
    (ridge,) = fit_ridges(f_train, y_train, (best,))
    return ProbeFit(best, f_train.shape[1], _mean_joint_error(ridge(f_train), y_train),
                    _mean_joint_error(ridge(featurize(x_test)), y_test), lambda x: ridge(featurize(x)))


# ---------------------------------------------------------------- the benchmark on a dataset


def held_out_rows(subject: np.ndarray) -> np.ndarray:
    """(N,) True for the frames of the split's last subject, or for its last fifth when it has one subject."""
    subjects = np.unique(subject)
    if len(subjects) > 1:
        return subject == subjects[-1]
    rows = np.zeros(len(subject), bool)
    rows[int(len(subject) * 0.8):] = True
    return rows


def _split(data_dir: Path, split: str, max_frames: int | None,
           hipart_levels: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """A split's arrays (with HiPART's dense and fine levels as ``hx_d``, ``hx_f`` when given, row-aligned), at most
    ``max_frames`` of them, evenly spaced."""
    a = PoseDataset(data_dir, split, fields=("x_s", "x_d", "x_f", "X_s"), normalize=False, verify=False).arrays()
    if hipart_levels is not None:
        a["hx_d"], a["hx_f"] = hipart_levels
    if max_frames is not None and len(a["X_s"]) > max_frames:
        keep = np.linspace(0, len(a["X_s"]) - 1, max_frames).round().astype(int)
        a = {k: v[keep] for k, v in a.items()}
    return a


def probe_inputs(a: dict[str, np.ndarray], levels: tuple[str, ...]) -> np.ndarray:
    """Stacked levels, screen-normalized and flattened: (N, 2 K) float64."""
    joints = np.concatenate([a[name] for name in levels], axis=1).astype(np.float64)
    return normalize_pixels(joints, a["image_size"].astype(np.float64)).reshape(len(joints), -1)


def root_relative_targets(a: dict[str, np.ndarray]) -> np.ndarray:
    """(N, 17 x 3) root-relative 3D joints, mm."""
    X = a["X_s"].astype(np.float64)
    return (X - X[:, :1]).reshape(len(X), -1)


def probe_table(data_dir: str | Path, components: int = QUADRATIC_COMPONENTS,
                max_frames: int | None = MAX_TRAIN_FRAMES,
                hipart_levels: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
                log: Callable[[str], None] = print) -> pd.DataFrame:
    """Rows: probe input x features; columns: test MPJPE (mm, mean over actions), train MPJPE, log10 of the ridge strength,
    feature count, input joints. ``hipart_levels`` ({split: (x_d, x_f)} px, row-aligned with the dataset) adds the
    input ``HIPART_INPUT``: the true sparse pose with those levels."""
    data_dir = Path(data_dir)
    given = hipart_levels or {}
    train = _split(data_dir, "train", max_frames, given.get("train"))
    test = _split(data_dir, "test", None, given.get("test"))
    held = held_out_rows(train["subject"])
    y_train, y_test = root_relative_targets(train), root_relative_targets(test)
    actions = np.array(H36M_ACTIONS)[test["action"]]
    inputs = {**INPUTS, **({HIPART_INPUT: ("x_s", "hx_d", "hx_f")} if hipart_levels else {})}
    rows = []
    for name, levels in inputs.items():
        x_train, x_test = probe_inputs(train, levels), probe_inputs(test, levels)
        for kind in FEATURES:
            fit = probe(x_train, y_train, x_test, y_test, held, kind, components)
            test_mm = per_action_table({"MPJPE": fit.test_error}, actions).loc["Average", "MPJPE"]
            rows.append({"input": name, "features": kind, "joints": x_train.shape[1] // 2, "feature count": fit.features,
                         "log10 ridge strength": float(np.log10(fit.strength)), "test MPJPE": float(test_mm),
                         "train MPJPE": float(fit.train_error.mean())})
            log(f"probe {name} ({x_train.shape[1] // 2} joints), {kind}: test {test_mm:.1f} mm, train "
                f"{fit.train_error.mean():.1f} mm (lambda {fit.strength:g}, {fit.features} features)")
    return pd.DataFrame(rows)


def gain_table(table: pd.DataFrame) -> pd.DataFrame:
    """Test MPJPE per input (rows) and features (columns), with each input's change against the sparse input."""
    order = [name for name in (*INPUTS, HIPART_INPUT) if name in set(table["input"])]
    wide = table.pivot(index="input", columns="features", values="test MPJPE").reindex(order)
    for kind in FEATURES:
        wide[f"{kind} vs sparse (%)"] = 100.0 * (wide[kind] / wide.loc["sparse", kind] - 1.0)
    wide.index.name = "input"
    return wide


def lifter_scores(run: RunLayout) -> dict[str, float]:
    """Test MPJPE (mean over actions) of the run's trained lifters, by input mode; missing ones left out."""
    out = {}
    for mode in ("sparse", "gt-hier", "hier"):
        path = run.lifter(mode).eval
        if path.is_file():
            out[mode] = float(pd.read_csv(path, index_col="action").loc["Average", "MPJPE"])
    return out


def hipart_probe_levels(bench: BenchRun, device: torch.device, log: Callable[[str], None] = print
                        ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """HiPART's dense and fine levels (px) from the true sparse pose of every frame of both splits, made as the run's
    hier lifter gets them (training levels as ``lifter.hier_levels`` says, test levels greedy) and sharing its
    cache."""
    run = bench.layout
    out = {}
    for split in ("train", "test"):
        frames = split_frames(bench.data_dir, split, "gt", log=log)
        sampled = split == "train" and bench.cfg.lifter.hier_levels == "sampled"
        out[split] = densified_levels(frames, split, run, run.lifter("hier"), device, log, sampled, bench.cfg.seed)
    return out


def run_probe(data_dir: str | Path, out: str | Path, bench: BenchRun | None = None,
              components: int = QUADRATIC_COMPONENTS, max_frames: int | None = MAX_TRAIN_FRAMES,
              hipart_levels: bool = False, device: torch.device = torch.device("cpu"),
              log: Callable[[str], None] = print) -> Results:
    """The probe's tables and plot in ``out``/probe; with a run (``bench``), its trained lifters beside the probe,
    and with ``hipart_levels`` also the probe on the true sparse pose plus the run's HiPART levels."""
    data_dir = Path(data_dir)
    manifest = load_manifest(data_dir)
    if manifest.get("levels", {}).get("s", H36M.num_joints) != H36M.num_joints:
        raise HipartError(f"{data_dir}: the probe needs the 17-joint sparse level")
    if hipart_levels and bench is None:
        raise HipartError("--hipart-levels needs a run with trained msst/ and hiarm/ (--run)")
    levels = hipart_probe_levels(bench, device, log) if hipart_levels and bench is not None else None
    table = probe_table(data_dir, components, max_frames, levels, log)
    gains = gain_table(table)
    lifters = lifter_scores(bench.layout) if bench is not None else {}
    if lifters:
        gains["trained lifter"] = [lifters.get(LIFTER_OF_INPUT.get(name, ""), np.nan) for name in gains.index]
        if "hier" in lifters and HIPART_INPUT not in gains.index:
            gains.loc[HIPART_INPUT, "trained lifter"] = lifters["hier"]
    label = data_label(manifest, data_dir)
    results = Results(out, "probe", bench, {"components": components, "max_train_frames": max_frames,
                                            "data": str(data_dir), "hipart_levels": hipart_levels})
    fits = table.set_index(table["input"] + ", " + table["features"]).drop(columns=["input", "features"])
    fits.index.name = "fit"
    results.table(fits, "probe_fits",
                  f"Levels probe: closed-form ridge regressions, 2D levels -> root-relative 3D (test split), {label}")
    results.table(gains, "probe", f"Levels probe: test MPJPE (mm) by input, {label}")
    results.plot(_plot(gains), "probe")
    results.finish([f"trained lifters from {bench.run}" if lifters else "no trained lifters beside the probe"])
    return results


def _plot(gains: pd.DataFrame) -> plt.Figure:
    columns = [c for c in ("linear", "quadratic", "trained lifter") if c in gains.columns]
    data = gains[columns]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    width = 0.8 / len(columns)
    for i, column in enumerate(columns):
        ax.bar(np.arange(len(data)) + i * width, data[column], width, label=column)
    ax.set_xticks(np.arange(len(data)) + 0.4 - width / 2, data.index, rotation=15, ha="right")
    ax.set_ylabel("test MPJPE (mm)")
    ax.set_title("levels probe: 2D levels -> 3D by ridge regression")
    ax.legend(fontsize=8)
    return fig

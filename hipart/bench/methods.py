"""The 2D-to-3D methods of a run folder, scored on the test split with whatever sparse 2D poses they are given.

HiPART is the hier lifter fed by HiARM + MSST; beside it the sparse lifter and every trained lifting baseline
(``baseline_*`` folders whose method lifts). A method whose checkpoint is missing is reported as missing, with the
command that trains it, never scored. Every method of one call reads the same input poses (one ``BaselineContext``
holding them), so HiARM densifies each setting once for all methods that need it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from hipart.bench.common import BenchRun

HIPART = "HiPART (hier lifter)"
SPARSE = "sparse lifter"


@dataclass(frozen=True)
class LiftMethod:
    label: str  # row name in tables
    kind: str  # "lifter" (a HiPART stage-3 folder) or a baseline name from the registry
    folder: Path
    train_hint: str  # how to train it when missing

    @property
    def present(self) -> bool:
        return (self.folder / "checkpoint.pt").is_file() and (self.folder / "summary.json").is_file()


def lift_methods(bench: BenchRun) -> list[LiftMethod]:
    """HiPART, the sparse lifter, then the lifting baselines: those the config names (present or not) plus any other
    trained variant found in the run (e.g. MixSTE with hier input)."""
    from hipart.models.baselines import METHODS, method_settings, registered

    run = bench.run
    out = [LiftMethod(HIPART, "lifter", run / "lifter_hier", f"hipart train all --out {run}"),
           LiftMethod(SPARSE, "lifter", run / "lifter_sparse", f"hipart train all --out {run}")]
    seen = set()
    for method in registered("lift"):
        name = method.name
        folder = run / method.folder_name(method_settings(bench.cfg, name))
        seen.add(folder)
        out.append(LiftMethod(folder.name.removeprefix("baseline_"), name, folder,
                              f"hipart train {name} --config {run / 'config.yaml'} --run {run}"))
    for summary in sorted(run.glob("baseline_*/summary.json")):
        info = json.loads(summary.read_text())
        if summary.parent not in seen and info.get("task") == "lift" and info.get("method") in METHODS:
            out.append(LiftMethod(summary.parent.name.removeprefix("baseline_"), info["method"], summary.parent, ""))
    return out


def evaluate_lifters(bench: BenchRun, methods: list[LiftMethod], x_s_px: np.ndarray | None = None,
                     device: torch.device = torch.device("cpu")) -> dict[str, pd.DataFrame]:
    """Per-action MPJPE / P-MPJPE (mm) of each present method on the test split; ``x_s_px`` replaces the test split's
    sparse 2D poses (N, 17, 2) px for every method alike."""
    from hipart.training.baselines import BaselineContext, load_baseline, predict_frames, score_table
    from hipart.training.lifter import evaluate_lifter, load_lifter

    ctx = BaselineContext(bench.cfg, bench.data_dir, bench.run, device,
                          {"test": x_s_px} if x_s_px is not None else None)
    tables: dict[str, pd.DataFrame] = {}
    for m in methods:
        if not m.present:
            continue
        if m.kind == "lifter":
            model, ckpt = load_lifter(m.folder / "checkpoint.pt")
            mode = ckpt["model_args"]["cfg"]["input"]
            tables[m.label] = evaluate_lifter(model.to(device), ctx.lift_frames("test", mode))
        else:
            from hipart.models.baselines import get_method

            method = get_method(m.kind)
            model, settings, _ = load_baseline(m.folder / "checkpoint.pt", m.kind)
            data = method.data(ctx, settings, "test")
            tables[m.label] = score_table("lift", predict_frames(method, model.to(device), settings, data, device),
                                          data.frames)
    return tables


def clean_test_poses(bench: BenchRun) -> tuple[np.ndarray, np.ndarray]:
    """The test split's ground-truth sparse 2D poses (N, 17, 2) px and action indices, in dataset order."""
    from hipart.data.dataset import PoseDataset

    a = PoseDataset(bench.data_dir, "test", fields=("x_s",), normalize=False, verify=False).arrays()
    return a["x_s"].astype(np.float32), a["action"]

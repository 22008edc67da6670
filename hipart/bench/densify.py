"""``hipart bench densify``: from the true sparse 2D pose, how well each method recovers the dense (48) and fine (96)
levels, per action (supplement Fig. 4 bottom), and what the hier lifter makes of each method's levels (Fig. 4 top);
plus the toy experiment: the sparse lifter against the lifter given the true dense levels.

HiPART's levels come from HiARM + MSST, the baselines' from their checkpoints (``densify-gcn``, ``densify-oneshot``),
and "ground truth" is the dataset's own levels. Every row's lifter is the run's hier lifter, trained on HiARM's
levels, so the lifter column measures how useful each densifier's output is to that one lifter.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from hipart.bench import reference
from hipart.bench.common import BenchRun, Results
from hipart.bench.methods import test_frames
from hipart.camera import normalize_pixels
from hipart.data.dataset import PoseDataset
from hipart.metrics import per_action_table
from hipart.models.baselines import method_settings, registered
from hipart.models.lifter import Lifter
from hipart.skeleton import H36M, H36M_ACTIONS
from hipart.training.baselines import BaselineContext, load_baseline, predict_frames
from hipart.training.lifter import LiftTensors, densified_levels, evaluate_lifter

HIPART = "HiPART (HiARM + MSST)"
TRUTH = "ground truth levels"


def densifier_outputs(bench: BenchRun, device: torch.device = torch.device("cpu"),
                      log: Callable[[str], None] = print) -> dict[str, dict[str, np.ndarray]]:
    """{method: {"x_d", "x_f"} px for every test frame}; methods without a checkpoint are left out (and logged)."""
    run = bench.layout
    x_d, x_f = densified_levels(test_frames(bench, "gt", log), "test", run, run.lifter("hier"), device, log)
    out = {HIPART: {"x_d": x_d, "x_f": x_f}}
    ctx = BaselineContext(bench.cfg, bench.data_dir, bench.run, device, log=log)
    for method in registered("densify"):
        name = method.name
        stage = run.stage(method.folder_name(method_settings(bench.cfg, name)))
        if not stage.checkpoint.is_file():
            log(f"{name}: no checkpoint in {stage.path}; listed as missing (train: hipart train {name} --run "
                f"{bench.run})")
            out[name] = {}
            continue
        model, settings, _ = load_baseline(stage.checkpoint, name)
        pred = predict_frames(method, model.to(device), settings, method.data(ctx, settings, "test"), device)
        out[name] = {k: pred[k].numpy() for k in ("x_d", "x_f")}
    return out


def _arrays(bench: BenchRun) -> dict[str, np.ndarray]:
    return PoseDataset(bench.data_dir, "test", fields=("x_s", "x_d", "x_f", "X_s"), normalize=False,
                       verify=False).arrays()


def run_densify(bench: BenchRun, out: str | Path, device: torch.device = torch.device("cpu"),
                log: Callable[[str], None] = print) -> Results:
    a = _arrays(bench)
    names = np.array(H36M_ACTIONS)[a["action"]]
    outputs = densifier_outputs(bench, device, log)
    outputs[TRUTH] = {"x_d": a["x_d"], "x_f": a["x_f"]}
    X = torch.from_numpy((a["X_s"] - a["X_s"][:, :1]).astype(np.float32))
    lifter, _ = Lifter.load(bench.trained(bench.layout.lifter("hier")).checkpoint)
    lifter = lifter.to(device)
    fine, rows = {}, {}
    for method, levels in outputs.items():
        if not levels:
            rows[method] = {"x_d px": np.nan, "x_f px": np.nan, "MPJPE (hier lifter)": np.nan}
            continue
        err = {f"{k} px": np.linalg.norm(levels[k] - a[k], axis=-1).mean(-1) for k in ("x_d", "x_f")}
        table = per_action_table(err, names)
        fine[method] = table["x_f px"]
        joints = np.concatenate([a["x_s"], levels["x_d"], levels["x_f"]], axis=1).astype(np.float32)
        x = torch.from_numpy(normalize_pixels(joints, a["image_size"]).astype(np.float32))
        # the true sparse pose: confidence 1 for every joint
        lift = evaluate_lifter(lifter, LiftTensors(x, X, a["action"], torch.ones(len(x), H36M.num_joints)))
        rows[method] = {"x_d px": table.loc["Average", "x_d px"], "x_f px": table.loc["Average", "x_f px"],
                        "MPJPE (hier lifter)": lift.loc["Average", "MPJPE"]}
        log(f"{method}: x_d {rows[method]['x_d px']:.2f} px, x_f {rows[method]['x_f px']:.2f} px, "
            f"lifted {rows[method]['MPJPE (hier lifter)']:.1f} mm")
    summary = pd.DataFrame.from_dict(rows, orient="index")
    summary.index.name = "method"
    per_action = pd.DataFrame(fine)
    per_action.index.name = "action"
    toy = _toy(bench)
    results = Results(out, "densify", bench, {})
    results.table(summary, "densify", f"Densification from the true sparse 2D pose (test split), {bench.data_label}",
                  ".2f")
    results.table(per_action, "fine_per_action", f"Fine (96-joint) 2D mean error per action (px), {bench.data_label}",
                  ".2f")
    results.table(toy, "toy_experiment", f"Toy experiment: lifter input, MPJPE (mm), {bench.data_label}; the paper "
                                         f"reports a {reference.TOY_EXPERIMENT_GAIN_MM} mm gain on Human3.6M")
    results.plot(_plot(per_action), "fine_per_action")
    results.finish([f"{m}: no checkpoint, missing" for m, v in outputs.items() if not v])
    return results


def _toy(bench: BenchRun) -> pd.DataFrame:
    rows = {}
    for mode, label in (("sparse", "sparse 2D only"), ("gt-hier", "sparse + true dense and fine levels"),
                        ("hier", "sparse + HiARM's levels (HiPART)")):
        path = bench.layout.lifter(mode).eval
        if path.is_file():
            avg = pd.read_csv(path, index_col="action").loc["Average"]
            rows[label] = {"MPJPE": avg["MPJPE"], "P-MPJPE": avg["P-MPJPE"]}
        else:
            rows[label] = {"MPJPE": np.nan, "P-MPJPE": np.nan}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table["gain over sparse"] = table.loc["sparse 2D only", "MPJPE"] - table["MPJPE"]
    table.index.name = "lifter input"
    return table


def _plot(per_action: pd.DataFrame) -> plt.Figure:
    data = per_action.drop(index="Average", errors="ignore")
    fig, ax = plt.subplots(figsize=(11, 4))
    width = 0.8 / max(1, len(data.columns))
    for i, method in enumerate(data.columns):
        ax.bar(np.arange(len(data)) + i * width, data[method], width, label=method)
    ax.set_xticks(np.arange(len(data)) + 0.4 - width / 2, data.index, rotation=45, ha="right")
    ax.set_ylabel("fine 2D mean error (px)")
    ax.set_title("densification from the true sparse 2D pose, per action")
    ax.legend(fontsize=8)
    return fig

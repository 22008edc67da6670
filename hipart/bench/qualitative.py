"""``hipart bench qualitative``: chosen test frames under occlusion (supplement Figs. 7, 8). One row per frame: the
occluded 2D input (joints under the occluder or outside the image marked as not seen: these keypoint-level inputs
carry no detector confidence), HiPART's hierarchical 2D (17 / 48 / 96 joints), and the 3D predictions
of HiPART and of the diffusion baseline (when trained) against the ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from hipart.bench.common import BenchRun, Results
from hipart.bench.methods import HIPART, lift_methods, test_frames
from hipart.bench.occlusion import occluded_inputs
from hipart.camera import denormalize_pixels
from hipart.data.dataset import PoseDataset
from hipart.errors import HipartError
from hipart.figures import draw_skeletons_3d, draw_sparse_2d, unseen_joints
from hipart.models.baselines import get_method
from hipart.models.lifter import Lifter
from hipart.occlusion import OcclusionModel
from hipart.skeleton import H36M, H36M_ACTIONS
from hipart.training.baselines import BaselineContext, load_baseline, predict_frames


def pick_frames(n_frames: int, count: int) -> list[int]:
    return np.linspace(0, n_frames - 1, count + 2).round().astype(int)[1:-1].tolist()


def run_qualitative(bench: BenchRun, out: str | Path, frames: tuple[int, ...] = (), count: int = 4,
                    kind: str = "crop", ratio: float = 0.3, seed: int = 0,
                    device: torch.device = torch.device("cpu"), log: Callable[[str], None] = print) -> Results:
    clean = test_frames(bench, "gt", log)
    x_s = clean.x_s
    chosen = list(frames) or pick_frames(len(x_s), count)
    bad = [i for i in chosen if not 0 <= i < len(x_s)]
    if bad:
        raise HipartError(f"--frame {bad[0]}: the test split has frames 0..{len(x_s) - 1}")
    # keypoint level, as the occlusion benchmark's (positions and confidences as the fitted model draws them)
    seen = occluded_inputs(x_s, kind, ratio, seed, OcclusionModel.fitted())
    x_occ, hidden = seen.x.astype(np.float32), seen.hidden
    occluded = clean.with_inputs(x_occ, confidence=seen.confidence)
    ctx = BaselineContext(bench.cfg, bench.data_dir, bench.run, device, {"test": occluded}, log)
    hier = ctx.lift_frames("test", "hier")
    lifter, _ = Lifter.load(bench.trained(bench.layout.lifter("hier")).checkpoint)
    with torch.no_grad():
        preds = {HIPART: lifter.to(device)(hier.x[chosen].to(device), hier.c[chosen].to(device)).cpu().numpy()}
    diff = [m for m in lift_methods(bench) if m.kind == "diffpose" and m.present]
    if diff:
        method = get_method("diffpose")
        model, s, _ = load_baseline(diff[0].stage.checkpoint, "diffpose")
        data = method.data(ctx, s, "test")
        preds[diff[0].label] = predict_frames(method, model.to(device), s, data, device)["X"][chosen].numpy()
    else:
        log("diffpose: no checkpoint; the figure shows HiPART only")
    ds = PoseDataset(bench.data_dir, "test", fields=("x_s",), normalize=False, verify=False)
    size = ds.image_size[chosen]
    levels = denormalize_pixels(hier.x[chosen].numpy(), size)  # x_s (occluded), x̂_d, x̂_f in px
    gt = hier.X[chosen].numpy()
    fig = plt.figure(figsize=(15, 4 * len(chosen)))
    rows = {}
    for r, i in enumerate(chosen):
        meta = {k: int(ds.meta[k][i]) for k in ("subject", "action", "camera", "frame")}
        ax = fig.add_subplot(len(chosen), 3, 3 * r + 1)
        _skeleton_2d(ax, x_s[i], "0.7", "true 2D")
        draw_sparse_2d(ax, x_occ[i], hidden[i] | unseen_joints(x_occ[i], size[r]), "tab:blue", "input (occluded)",
                       "not seen (under the occluder or outside the image)")
        ax.set_title(f"S{meta['subject']} {H36M_ACTIONS[meta['action']]} cam {meta['camera']} frame {meta['frame']}:"
                     f" {kind} {ratio:g}")
        _finish_2d(ax)
        ax = fig.add_subplot(len(chosen), 3, 3 * r + 2)
        n_s = H36M.num_joints
        n_d = n_s + int(ds.levels["d"])
        ax.scatter(*levels[r, n_d:].T, s=8, c="tab:orange", label=f"fine ({levels.shape[1] - n_d})")
        ax.scatter(*levels[r, n_s:n_d].T, s=16, marker="s", facecolors="none", edgecolors="tab:green",
                   label=f"dense ({n_d - n_s})")
        _skeleton_2d(ax, levels[r, :n_s], "tab:blue", f"sparse ({n_s})")
        ax.set_title("HiPART hierarchical 2D")
        _finish_2d(ax)
        ax3 = fig.add_subplot(len(chosen), 3, 3 * r + 3, projection="3d")
        colours = iter(["tab:orange", "tab:purple", "tab:green"])
        draw_skeletons_3d(ax3, [(gt[r], "k", "ground truth")] + [(p[r], next(colours), m) for m, p in preds.items()])
        errs = {m: float(np.linalg.norm(p[r] - gt[r], axis=-1).mean()) for m, p in preds.items()}
        ax3.set_title("3D: " + ", ".join(f"{m.split(' (')[0]} {e:.0f} mm" for m, e in errs.items()), fontsize=9)
        ax3.legend(fontsize=7)
        rows[i] = {**meta, "action": H36M_ACTIONS[meta["action"]], "hidden joints": int(hidden[i].sum()),
                   **{f"MPJPE {m}": e for m, e in errs.items()}}
    fig.tight_layout()
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "test frame"
    results = Results(out, "qualitative", bench, {"frames": chosen, "kind": kind, "ratio": ratio, "seed": seed})
    results.table(table, "frames", f"Frames shown under {kind} {ratio:g}, {bench.data_label}")
    results.plot(fig, "qualitative")
    results.finish()
    return results


def _skeleton_2d(ax, pose: np.ndarray, colour: str, label: str) -> None:
    for n, (a, b) in enumerate(H36M.bones):
        ax.plot(*pose[[a, b]].T, c=colour, lw=2, label=label if n == 0 else None)


def _finish_2d(ax) -> None:
    ax.invert_yaxis()
    ax.set_aspect("equal")
    ax.legend(fontsize=7, loc="lower right")

"""The 2D-to-3D methods of a run folder, scored on the test split with whatever sparse 2D poses they are given.

HiPART is the hier lifter fed by HiARM + MSST; beside it the sparse lifter and every trained lifting baseline
(``baseline_*`` folders whose method lifts). A method whose checkpoint is missing is reported as missing, with the
command that trains it, never scored. Every method of one call reads the same input poses and their per-joint
confidence (one ``BaselineContext`` holding them; a model built to read the confidence reads it, the others ignore
it), so HiARM densifies each setting once for all methods that need it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from hipart.bench.common import BenchRun
from hipart.data.dataset import PoseDataset
from hipart.models.baselines import METHODS, get_method, method_settings, registered
from hipart.models.lifter import Lifter
from hipart.runs import StageDir
from hipart.training.baselines import BaselineContext, load_baseline, predict_frames
from hipart.training.inputs import SplitFrames, split_frames
from hipart.training.lifter import lift

HIPART = "HiPART (hier lifter)"
SPARSE = "sparse lifter"


@dataclass(frozen=True)
class LiftMethod:
    label: str  # row name in tables
    kind: str  # "lifter" (a HiPART stage-3 folder) or a baseline name from the registry
    stage: StageDir
    train_hint: str  # how to train it when missing

    @property
    def present(self) -> bool:
        return self.stage.trained


def lift_methods(bench: BenchRun) -> list[LiftMethod]:
    """HiPART, the sparse lifter, then the lifting baselines: those the config names (present or not) plus any other
    trained variant found in the run (e.g. MixSTE with hier input)."""
    run = bench.layout
    out = [LiftMethod(HIPART, "lifter", run.lifter("hier"), f"hipart train all --out {run.root}"),
           LiftMethod(SPARSE, "lifter", run.lifter("sparse"), f"hipart train all --out {run.root}")]
    seen = set()
    for method in registered("lift"):
        stage = run.stage(method.folder_name(method_settings(bench.cfg, method.name)))
        seen.add(stage)
        out.append(LiftMethod(stage.name.removeprefix("baseline_"), method.name, stage,
                              f"hipart train {method.name} --config {bench.config_path} --run {run.root}"))
    for stage in run.baselines():
        if stage in seen or not stage.trained:
            continue
        info = stage.read_summary()
        if info.get("task") == "lift" and info.get("method") in METHODS:
            out.append(LiftMethod(stage.name.removeprefix("baseline_"), info["method"], stage, ""))
    return out


def predict_lifters(bench: BenchRun, methods: list[LiftMethod], frames: SplitFrames | None = None,
                    device: torch.device = torch.device("cpu"), log: Callable[[str], None] = print
                    ) -> dict[str, torch.Tensor]:
    """Each present method's 3D poses (N, 17, 3) root-relative mm, every method reading the same observed sparse
    poses and their confidence (``SplitFrames.confidence``: HiPART's hier lifter through HiARM's densification and
    its own input, the sparse lifter and the baselines, each where it was built to read it): ``frames`` (occluded
    test frames, another dataset's frames such as 3DPW's) or the run's own test inputs. Temporal methods see each
    frame's sequence (``frames.start`` / ``frames.end``)."""
    ctx = BaselineContext(bench.cfg, bench.data_dir, bench.run, device, {"test": frames} if frames else None, log)
    preds: dict[str, torch.Tensor] = {}
    for m in methods:
        if not m.present:
            continue
        if m.kind == "lifter":
            model, ckpt = Lifter.load(m.stage.checkpoint)
            preds[m.label] = lift(model.to(device), ctx.lift_frames("test", ckpt["model_args"]["cfg"]["input"]))
        else:
            method = get_method(m.kind)
            model, settings, _ = load_baseline(m.stage.checkpoint, m.kind)
            preds[m.label] = predict_frames(method, model.to(device), settings, method.data(ctx, settings, "test"),
                                            device)["X"]
    return preds


def test_frames(bench: BenchRun, keypoints: str = "gt", log: Callable[[str], None] = print) -> SplitFrames:
    """The test split's frames with the true (``gt``) or detected sparse 2D poses as input."""
    return split_frames(bench.data_dir, "test", keypoints, log=log)


def clean_test_poses(bench: BenchRun) -> tuple[np.ndarray, np.ndarray]:
    """The test split's ground-truth sparse 2D poses (N, 17, 2) px and action indices, in dataset order."""
    a = PoseDataset(bench.data_dir, "test", fields=("x_s",), normalize=False, verify=False).arrays()
    return a["x_s"].astype(np.float32), a["action"]

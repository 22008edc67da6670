"""``hipart train lifter``: 2D (sparse or hierarchical) to root-relative 3D, MPJPE loss, Adam with the paper's step
decay or a warm-up + cosine schedule (``lifter.schedule``).

The ``hier`` lifter trains on levels like those it will see at test time: the dense and fine levels that HiPART
(HiARM + MSST) produces from each frame's sparse 2D pose, computed once and cached (``hier_{split}_*.pt``, keyed
by the sha256 of both checkpoints and of the dataset manifest; a cache that fails to load is recomputed). HiARM
decodes the frames it was trained on better than unseen ones, so by default (``lifter.hier_levels: sampled``) the
training levels come from tokens sampled from its predictive distribution rather than its greedy choice; the test
levels are always greedy, as at inference. ``gt-hier`` uses the dataset's true dense and fine levels instead.
Evaluation: MPJPE, P-MPJPE and N-MPJPE per action on the test split (``eval.csv``).

Detector confidence: a lifter built with ``lifter.confidence`` reads the frames' per-joint confidence
(``SplitFrames.confidence``: the detector's for ``keypoints: detected``; with true keypoints 1 everywhere, as the
lifter has no occlusion augmentation); ``gt-hier`` reads the truth, confidence 1. A HiARM built with
``hiarm.confidence`` densifies from x_s and that confidence, so the levels' cache key then holds the confidence's
sha256 (the key of a HiARM without it stays as it was).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch

from hipart import __version__
from hipart.camera import normalize_pixels
from hipart.config import Config
from hipart.data.build import MANIFEST
from hipart.data.dataset import PoseDataset
from hipart.coarsen.hierarchy import Hierarchy
from hipart.data.levels import input_joints, stacked_parts
from hipart.errors import HipartError
from hipart.io import array_sha256, atomic_path, file_sha256, write_json_atomic
from hipart.metrics import mpjpe, n_mpjpe, p_mpjpe, per_action_table
from hipart.models.complexity import count_params_flops
from hipart.models.hiarm import checkpoint_config
from hipart.models.hipart import HiPART
from hipart.models.lifter import KIND, Lifter, joint_anchors
from hipart.occlusion import OcclusionModel
from hipart.runs import RunLayout, StageDir
from hipart.skeleton import H36M, H36M_ACTIONS
from hipart.training.engine import Runtime, Stage, fit, provenance, resume_state, run_stage, seed_all, warmup_cosine
from hipart.training.hiarm import load_cache
from hipart.training.inputs import SplitFrames, split_frames, with_occluded_copies


TRAIN_SCORE_FRAMES = 6000  # training frames (evenly spaced) scored in eval mode for the summary's train MPJPE


@dataclass
class LiftTensors:
    x: torch.Tensor  # (N, K, 2) screen-normalized input joints
    X: torch.Tensor  # (N, 17, 3) root-relative mm
    action: np.ndarray  # (N,) action index
    c: torch.Tensor  # (N, 17) the sparse joints' confidence (SplitFrames.confidence), read by models built for it

    def take(self, index: np.ndarray) -> "LiftTensors":
        """The frames ``index`` (M,)."""
        return LiftTensors(self.x[index], self.X[index], self.action[index], self.c[index])

    def __len__(self) -> int:
        return len(self.X)


def densified_levels(frames: SplitFrames, split: str, run: RunLayout, cache: StageDir | None, device: torch.device,
                     log: Callable[[str], None] = print, sampled: bool = False, seed: int = 0
                     ) -> tuple[np.ndarray, np.ndarray]:
    """HiPART's dense and fine levels (px) for the frames' observed sparse poses (and their confidence, where HiARM
    reads it): greedy, as inference makes them, or (``sampled``) decoded from tokens drawn from HiARM's predictive
    distribution (temperature 1, ``seed``). From ``cache``'s ``hier_{split}_*.pt`` when it matches (not cached when
    ``cache`` is None or the frames' source is unnamed); the key holds the confidence where HiARM reads it."""
    msst_path, hiarm_path = run.msst.checkpoint, run.hiarm.checkpoint
    for stage, path in (("msst", msst_path), ("hiarm", hiarm_path)):
        if not path.is_file():
            raise HipartError(f"{path}: checkpoint not found; HiPART's levels need the run's trained {stage} "
                              f"(hipart train all --out {run.root})")
    decoding = f"sampled:{seed}" if sampled else "greedy"
    key = f"{file_sha256(msst_path)}:{file_sha256(hiarm_path)}:{frames.source}:{len(frames)}:{decoding}"
    reads_confidence = checkpoint_config(hiarm_path).confidence
    if reads_confidence:  # levels decoded with another confidence must not be served
        key += f":confidence:{array_sha256(frames.confidence)}"
    name = f"hier_{split}_{frames.source.split(':')[0]}{'_sampled' if sampled else ''}.pt"
    path = cache.file(name) if cache is not None and frames.source else None
    stored = load_cache(path, key, ("x_d", "x_f"), log) if path is not None else None
    if stored is not None and len(stored["x_d"]) == len(frames):
        return stored["x_d"].numpy(), stored["x_f"].numpy()
    model = HiPART.from_run(run.root, device, with_lifter=False)
    c = frames.confidence if reads_confidence else None
    out = model.densify(frames.x_s, "cached", temperature=1.0, seed=seed, confidence=c) if sampled \
        else model.densify(frames.x_s, confidence=c)
    x_d, x_f = out["x_d"].cpu(), out["x_f"].cpu()
    if path is not None:
        with atomic_path(path) as tmp:
            torch.save({"key": key, "x_d": x_d, "x_f": x_f}, tmp)
    return x_d.numpy(), x_f.numpy()


def lifter_inputs(mode: str, frames: SplitFrames, split: str, run: RunLayout | None, cache: StageDir | None,
                  device: torch.device, log: Callable[[str], None] = print, sampled_levels: bool = False,
                  seed: int = 0) -> LiftTensors:
    """The frames' lifter inputs and targets: ``sparse`` reads the observed x_s; ``hier`` adds HiPART's levels made
    from it (``run`` holds the trained MSST and HiARM; ``cache`` keeps them; ``sampled_levels``: from sampled
    tokens, see :func:`densified_levels`); ``gt-hier`` is the toy experiment's input, the true sparse pose with the
    true dense and fine levels (confidence 1). ``c`` is the frames' confidence (the sparse joints')."""
    c = frames.confidence
    if mode == "sparse":
        joints = frames.x_s
    elif mode == "gt-hier":
        joints = np.concatenate([frames.x_s_true, frames.x_d, frames.x_f], axis=1)
        c = np.ones_like(frames.confidence)
    elif mode == "hier":
        if run is None:
            raise HipartError("the hier lifter needs a run folder with trained MSST and HiARM stages")
        x_d, x_f = densified_levels(frames, split, run, cache, device, log, sampled_levels, seed)
        joints = np.concatenate([frames.x_s, x_d, x_f], axis=1)
    else:
        raise HipartError(f"unknown lifter input '{mode}'; use hier, sparse or gt-hier")
    x = normalize_pixels(joints.astype(np.float32), frames.image_size)
    X = frames.X_s - frames.X_s[:, :1]
    return LiftTensors(torch.from_numpy(x.astype(np.float32)), torch.from_numpy(X.astype(np.float32)), frames.action,
                       torch.from_numpy(np.asarray(c, np.float32)))


@torch.no_grad()
def lift(model: Lifter, data: LiftTensors, batch_size: int = 2048) -> torch.Tensor:
    """The lifter's 3D poses (N, 17, 3) root-relative mm for ``data``'s inputs (and their confidence, which a lifter
    built for it reads), in eval mode, on the CPU."""
    was = model.training
    model.eval()
    dev = next(model.parameters()).device
    preds = torch.cat([model(data.x[i:i + batch_size].to(dev), data.c[i:i + batch_size].to(dev)).cpu()
                       for i in range(0, len(data), batch_size)])
    model.train(was)
    return preds


def evaluate_lifter(model: Lifter, data: LiftTensors, batch_size: int = 2048) -> pd.DataFrame:
    """MPJPE, P-MPJPE and N-MPJPE (after the least-squares scale alone) in mm per action on ``data``, plus their
    average over actions."""
    preds = lift(model, data, batch_size)
    names = np.array(H36M_ACTIONS)[data.action]
    return per_action_table({"MPJPE": mpjpe(preds, data.X), "P-MPJPE": p_mpjpe(preds.double(), data.X.double()),
                             "N-MPJPE": n_mpjpe(preds.double(), data.X.double())}, names)


def train_lifter(cfg: Config, data_dir: str | Path, out_dir: str | Path, run: str | Path | None,
                 resume: bool = False, force: bool = False, progress: bool = True,
                 log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train (or resume) a lifter with input ``cfg.lifter.input``; ``run`` holds the MSST and HiARM stages the
    ``hier`` input needs. Returns the summary (also written to summary.json)."""
    out = StageDir(Path(out_dir))
    layout = RunLayout(run) if run is not None else None
    if cfg.lifter.input == "hier" and (layout is None or not (layout.msst.trained and layout.hiarm.trained)):
        where = layout.root if layout is not None else "the run folder"
        raise HipartError(f"the hier lifter reads HiPART's levels, but {where} has no trained msst/ and hiarm/; "
                          f"train them first ('hipart train all --out {where}') or use --input sparse")
    return run_stage(out, resume, force, cfg.device,
                     lambda rt, resuming: _train(cfg, Path(data_dir), out, layout, resuming, progress, log, rt))


def _train(cfg: Config, data_dir: Path, out: StageDir, run: RunLayout | None, resume: bool,
           progress: bool, log: Callable[[str], None], rt: Runtime) -> dict[str, Any]:
    L = cfg.lifter
    train_ds = PoseDataset(data_dir, "train", fields=("x_s",), verify=rt.is_main)
    seed_all(cfg.seed)
    num_inputs = input_joints(L.input, train_ds.levels)
    parts = stacked_parts(Hierarchy.load(train_ds.hierarchy_path)) if num_inputs > H36M.num_joints else None
    model = Lifter(L, joint_anchors(num_inputs, parts))
    ckpt, finished = resume_state(out, KIND, model, train_ds.hierarchy_hash, cfg.name, resume, log)
    if finished is not None:
        return finished
    if ckpt is not None and (trained_with := ckpt["config"]["lifter"].get("schedule", "step")) != L.schedule:
        raise HipartError(f"{out.checkpoint} was trained with the {trained_with} learning-rate schedule and config "
                          f"'{cfg.name}' asks for {L.schedule}; resume with the checkpoint's config or use --force")
    out.path.mkdir(parents=True, exist_ok=True)
    keypoints = "gt" if L.input == "gt-hier" else cfg.keypoints  # the toy experiment reads the truth
    train_frames = split_frames(data_dir, "train", keypoints, True, log)
    if L.occlusion_copies and L.input != "gt-hier":  # the toy experiment reads the truth, never occluded
        train_frames = with_occluded_copies(train_frames, OcclusionModel.fitted(), L.occlusion_copies, cfg.seed)
    train = lifter_inputs(L.input, train_frames, "train", run, out, rt.device, log,
                          sampled_levels=L.hier_levels == "sampled", seed=cfg.seed)
    test = lifter_inputs(L.input, split_frames(data_dir, "test", keypoints, log=log), "test", run, out, rt.device,
                         log)
    model.to(rt.device)
    x, X = train.x.to(rt.device), train.X.to(rt.device)
    c = train.c.to(rt.device) if L.confidence else None
    # the training noise's std per frame in screen-normalized units (one pixel is 2 / width of its image)
    noise = torch.from_numpy(L.input_noise_px * 2.0 / train_frames.image_size[:, 0]).float().to(rt.device)
    if ckpt is None:  # a resumed model keeps the statistics it was trained with (stored with its weights)
        model.fit_standardization(x)
    if rt.is_main:
        cfg.save(out.config)
        log(f"lifter ({L.input}, {model.num_inputs} joints in, {keypoints} keypoints"
            + (", reading their confidence" if L.confidence else "")
            + (f", {L.occlusion_copies} occluded cop{'y' if L.occlusion_copies == 1 else 'ies'} of the training "
               "frames" if L.occlusion_copies and L.input != "gt-hier" else "") + f"): {len(train)} train / "
            f"{len(test)} test frames, "
            f"device {rt.device}" + (f"; resuming after epoch {ckpt['epoch']}" if ckpt else ""))

    def step(net: torch.nn.Module, idx: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        inputs = x[idx]
        if L.input_noise_px > 0:  # drawn from the per-epoch seeded generator: a resumed run repeats the noise
            inputs = inputs + torch.randn_like(inputs) * noise[idx, None, None]
        loss = (net(inputs, None if c is None else c[idx]) - X[idx]).norm(dim=-1).mean()
        return loss, {"loss": loss.item()}

    def evaluate(core: Lifter) -> dict[str, float]:
        avg = evaluate_lifter(core, test).loc["Average"]
        return {"mpjpe": float(avg["MPJPE"]), "p_mpjpe": float(avg["P-MPJPE"])}

    def schedule(opt: torch.optim.Optimizer, per_epoch: int) -> torch.optim.lr_scheduler.LRScheduler:
        if L.schedule == "cosine":
            return warmup_cosine(opt, L.warmup_iters, per_epoch * L.epochs)
        return torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, L.decay_every * per_epoch), gamma=L.lr_decay)

    prov = provenance(data_dir / MANIFEST, {"msst": run.msst.checkpoint, "hiarm": run.hiarm.checkpoint}
                      if L.input == "hier" and run is not None else {})
    stage = Stage(KIND, model, len(train), L.epochs, L.batch_size, cfg.seed, step, evaluate,
                  lambda row: f"MPJPE train {row['loss']:.1f} mm, test {row['test_mpjpe']:.1f} mm "
                              f"(P-MPJPE {row['test_p_mpjpe']:.1f})",
                  lambda: {"model_args": model.model_args(), "config": cfg.to_dict(), "input": L.input,
                           "hierarchy_hash": train_ds.hierarchy_hash, "levels": train_ds.levels,
                           "hipart_version": __version__, **prov})
    # Adam as in the paper (AdamW with zero weight decay is the same update) unless lifter.weight_decay is set.
    state = fit(stage, rt, out, L.lr, L.weight_decay, schedule, ckpt, progress, log)
    if not rt.is_main:
        return {}
    table = evaluate_lifter(model, test)
    with atomic_path(out.eval) as tmp:
        table.to_csv(tmp)
    seen = np.linspace(0, len(train) - 1, min(len(train), TRAIN_SCORE_FRAMES)).round().astype(int)
    train_score = evaluate_lifter(model, train.take(seen)).loc["Average"]
    summary = {"stage": KIND, "input": L.input, "keypoints": keypoints, "config": cfg.name, "epochs": L.epochs, "steps": state["step"],
               "test": {"mpjpe": float(table.loc["Average", "MPJPE"]), "p_mpjpe": float(table.loc["Average", "P-MPJPE"]),
                        "frames": len(test)},
               "train": {"mpjpe": float(train_score["MPJPE"]), "p_mpjpe": float(train_score["P-MPJPE"]),
                         "frames": len(seen)},
               "complexity": count_params_flops(model, (test.x[:1].to(rt.device), test.c[:1].to(rt.device))),
               "hierarchy_hash": train_ds.hierarchy_hash, "data": str(data_dir), "hipart_version": __version__}
    write_json_atomic(out.summary, summary)
    return summary

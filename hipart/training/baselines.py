"""``hipart train <baseline>``: one trainer for every registered baseline (``hipart.models.baselines``).

A method supplies its model, its per-split tensors, its loss and its prediction; this module does the rest the
same way for all of them: AdamW with cosine decay through the shared epoch loop (checkpoints, exact resume,
metrics.csv, torchrun), then per-action scores on the test split (``eval.csv``: MPJPE / P-MPJPE in mm for lifters,
the 2D error of x_d and x_f in px for densifiers) and ``summary.json`` with parameters and FLOPs per frame.
Stage folder: ``<run>/baseline_<name>`` beside the HiPART stages (:mod:`hipart.runs`), whose MSST / HiARM it reads
when it needs them.
"""

from __future__ import annotations

import dataclasses
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch
from torch import nn

from hipart import __version__
from hipart.checkpoints import load_model
from hipart.coarsen.hierarchy import Hierarchy
from hipart.config import Config, recorded_settings
from hipart.data.build import MANIFEST
from hipart.data.dataset import PoseDataset
from hipart.data.levels import stacked_parts
from hipart.errors import HipartError
from hipart.io import atomic_path, write_json_atomic
from hipart.metrics import mpjpe, p_mpjpe, per_action_table
from hipart.models.baselines import Method, SplitData, checkpoint_kind, get_method, method_settings, reads_confidence
from hipart.models.complexity import count_params_flops
from hipart.models.msst import MSST
from hipart.occlusion import OcclusionModel
from hipart.runs import RunLayout, StageDir
from hipart.skeleton import H36M_ACTIONS
from hipart.training.engine import Runtime, Stage, fit, provenance, resume_state, run_stage, seed_all, warmup_cosine
from hipart.training.hiarm import cached_tokens
from hipart.training.inputs import SplitFrames, split_frames, with_occluded_copies
from hipart.training.lifter import LiftTensors, lifter_inputs
from hipart.training.msst import PoseTensors, pose_tensors


class BaselineContext:
    """What methods read (the :class:`hipart.models.baselines.Context` protocol): the dataset's splits in the shapes
    they need and the run's trained HiPART stages. Everything is loaded once, on first use."""

    def __init__(self, cfg: Config, data_dir: Path, run: str | Path, device: torch.device = torch.device("cpu"),
                 frames: dict[str, SplitFrames] | None = None, log: Callable[[str], None] = print) -> None:
        """Each split's frames come from the dataset with the config's keypoints (training frames without a
        detection left out), unless ``frames`` gives them: the occlusion benchmark feeds the same occluded poses
        to every method this way."""
        self.cfg, self.data_dir, self.run, self.device = cfg, Path(data_dir), RunLayout(run), device
        self.given, self.log = frames or {}, log
        self._cache: dict[Any, Any] = {}

    def _once(self, key: Any, make: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def stage(self, name: str) -> StageDir:
        """A trained stage of the run (``msst``, ``hiarm``), or a one-line error saying how to train it."""
        stage = self.run.stage(name)
        if not stage.checkpoint.is_file():
            raise HipartError(f"{stage.checkpoint} not found: this needs the run's trained {name.upper()}; run "
                              f"'hipart train all --out {self.run.root}' (or 'hipart train {name}') first")
        return stage

    def frames(self, split: str) -> SplitFrames:
        if split in self.given:
            return self.given[split]
        def make() -> SplitFrames:
            frames = split_frames(self.data_dir, split, self.cfg.keypoints, drop_undetected=split == "train",
                                  log=self.log)
            copies = self.cfg.lifter.occlusion_copies if split == "train" else 0  # the lifters' training frames
            return with_occluded_copies(frames, OcclusionModel.fitted(), copies, self.cfg.seed)
        return self._once(("frames", split), make)

    def lift_frames(self, split: str, mode: str) -> LiftTensors:
        """LiftTensors (x screen-normalized, X root-relative mm, action, c the sparse joints' confidence) of the
        split's frames. ``hier`` inputs are the hier lifter's (training levels as ``lifter.hier_levels`` says) and
        share its cache (``lifter_hier/hier_{split}_*.pt``)."""
        def make() -> LiftTensors:
            if mode == "hier":
                self.stage("msst"), self.stage("hiarm")
            sampled = split == "train" and self.cfg.lifter.hier_levels == "sampled"
            return lifter_inputs(mode, self.frames(split), split, self.run, self.run.lifter("hier"), self.device,
                                 self.log, sampled_levels=sampled, seed=self.cfg.seed)
        return self._once(("lift", split, mode), make)

    def sequence_bounds(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        frames = self.frames(split)
        return frames.start, frames.end

    def pose_tensors(self, split: str) -> PoseTensors:
        return self._once(("pose", split), lambda: pose_tensors(self.frames(split)))

    def msst(self) -> MSST:
        return self._once("msst", lambda: MSST.load(self.stage("msst").checkpoint)[0])

    def tokens(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """MSST token indices of the clean fine poses, shared with HiARM's cache (``hiarm/tokens_{split}.pt``)."""
        return self._once(("tokens", split), lambda: cached_tokens(
            self.msst(), self.stage("msst").checkpoint, split, self.pose_tensors(split), self.run.hiarm, self.device,
            log=self.log))

    @cached_property
    def levels(self) -> dict[str, int]:
        return PoseDataset(self.data_dir, "test", fields=("x_s",), verify=False).levels

    @cached_property
    def parts(self) -> np.ndarray:
        """(K_d + K_f,) the body part (sparse joint, -1 unlabelled) of every dense then fine joint of the stack."""
        return stacked_parts(Hierarchy.load(PoseDataset(self.data_dir, "test", fields=("x_s",),
                                                        verify=False).hierarchy_path))

    def info(self, method: Method, settings: Any) -> dict[str, Any]:
        """What the method's build reads (stored in its checkpoint): the levels, the run's MSST settings where it
        needs the MSST, the part labels where it reads the confidence (``hipart.models.baselines.registry``)."""
        info: dict[str, Any] = {"levels": self.levels}
        if "msst" in method.needs(settings):
            info["msst_args"] = self.msst().model_args()
        if reads_confidence(settings):
            info["parts"] = self.parts.tolist()
        return info


def _items_per_frame(data: SplitData) -> int:
    return data.items["valid"].shape[1] if "frame_index" in data.items else 1


@torch.no_grad()
def predict_frames(method: Method, model: nn.Module, settings: Any, data: SplitData, device: torch.device,
                   frames_per_batch: int = 4096) -> dict[str, torch.Tensor]:
    """The method's outputs for every frame of ``data`` (windowed methods: each frame from the window holding it)."""
    was = model.training
    model.eval()
    n = len(next(iter(data.items.values())))
    step = max(1, frames_per_batch // _items_per_frame(data))
    parts: dict[str, list[torch.Tensor]] = {}
    for start in range(0, n, step):
        batch = {k: v[start:start + step].to(device) for k, v in data.items.items()}
        for k, v in method.predict(model, batch, settings).items():
            parts.setdefault(k, []).append(v.float().cpu())
    model.train(was)
    out = {k: torch.cat(v) for k, v in parts.items()}
    if "frame_index" in data.items:
        index, valid = data.items["frame_index"], data.items["valid"]
        num_frames = len(data.frames["action"])
        for k, v in out.items():
            frames = torch.full((num_frames, *v.shape[2:]), float("nan"))
            frames[index[valid]] = v[valid]
            out[k] = frames
    return out


def score_table(task: str, pred: dict[str, torch.Tensor], frames: dict[str, torch.Tensor]) -> pd.DataFrame:
    """Per-action table: MPJPE / P-MPJPE (mm) for lifters, mean 2D error of x_d / x_f (px) for densifiers."""
    names = np.array(H36M_ACTIONS)[frames["action"].numpy()]
    if task == "lift":
        X = frames["X"]
        return per_action_table({"MPJPE": mpjpe(pred["X"], X), "P-MPJPE": p_mpjpe(pred["X"].double(), X.double())},
                                names)
    return per_action_table({f"{k} px": (pred[k] - frames[k]).norm(dim=-1).mean(-1) for k in ("x_d", "x_f")}, names)


def _averages(task: str, table: pd.DataFrame) -> dict[str, float]:
    avg = table.loc["Average"]
    if task == "lift":
        return {"mpjpe": float(avg["MPJPE"]), "p_mpjpe": float(avg["P-MPJPE"])}
    return {"x_d_px": float(avg["x_d px"]), "x_f_px": float(avg["x_f px"])}


def load_baseline(path: str | Path, name: str) -> tuple[nn.Module, Any, dict[str, Any]]:
    """(model in eval mode, its settings, the checkpoint payload)."""
    method = get_method(name)
    holder: dict[str, Any] = {}

    def build(args: dict[str, Any]) -> nn.Module:
        holder["settings"] = method.config(**args["settings"])
        return method.build(holder["settings"], args["info"])

    model, ckpt = load_model(path, checkpoint_kind(name), build)
    return model, holder["settings"], ckpt


def train_baseline(cfg: Config, name: str, data_dir: str | Path, run: str | Path, out: str | Path | None = None,
                   resume: bool = False, force: bool = False, progress: bool = True,
                   log: Callable[[str], None] = print, **overrides: Any) -> dict[str, Any]:
    """Train baseline ``name`` (settings: its defaults < ``cfg.baselines[name]`` < ``overrides``)."""
    method = get_method(name)
    settings = method_settings(cfg, name, **overrides)
    layout = RunLayout(run)
    stage = StageDir(Path(out)) if out is not None else layout.stage(method.folder_name(settings))
    return run_stage(stage, resume, force, cfg.device,
                     lambda rt, resuming: _train(cfg, method, settings, Path(data_dir), layout, stage, resuming,
                                                 progress, log, rt))


def _train(cfg: Config, method: Method, s: Any, data_dir: Path, run: RunLayout, out: StageDir, resume: bool,
           progress: bool, log: Callable[[str], None], rt: Runtime) -> dict[str, Any]:
    kind = checkpoint_kind(method.name)
    ctx = BaselineContext(cfg, data_dir, run.root, rt.device, log=log)
    dataset = PoseDataset(data_dir, "train", fields=("x_s",), verify=rt.is_main)
    seed_all(cfg.seed)
    info = ctx.info(method, s)
    model = method.build(s, info)
    # settings added later at their defaults are left out: checkpoints made before them still resume
    args = {"settings": recorded_settings(s), "info": info}
    ckpt, finished = resume_state(out, kind, model, dataset.hierarchy_hash, cfg.name, resume, log, model_args=args)
    if finished is not None:
        return finished
    if ckpt is None and method.prepare is not None:
        method.prepare(model, ctx)
    train, test = method.data(ctx, s, "train"), method.data(ctx, s, "test")
    model.to(rt.device)
    items = {k: v.to(rt.device) for k, v in train.items.items()}
    num_items = len(next(iter(items.values())))
    if rt.is_main:
        out.path.mkdir(parents=True, exist_ok=True)
        cfg.save(out.config)
        log(f"{method.name}: {num_items} train items / {len(test.frames['action'])} test frames, device {rt.device}"
            + (f"; resuming after epoch {ckpt['epoch']}" if ckpt else ""))

    def step(net: nn.Module, idx: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        return method.loss(net, {k: v[idx] for k, v in items.items()}, s)

    def evaluate(core: nn.Module) -> dict[str, float]:
        return _averages(method.task, score_table(method.task, predict_frames(method, core, s, test, rt.device),
                                                  test.frames))

    def describe(row: dict[str, Any]) -> str:
        scores = ", ".join(f"{k[5:]} {v:.2f}" for k, v in row.items() if k.startswith("test_"))
        return f"loss {row['loss']:.4f}, test {scores}"

    prov = provenance(data_dir / MANIFEST, {name: run.stage(name).checkpoint for name in method.needs(s)})
    stage = Stage(kind, model, num_items, s.epochs, s.batch_size, cfg.seed, step, evaluate, describe,
                  lambda: {"model_args": args, "config": cfg.to_dict(), "hierarchy_hash": dataset.hierarchy_hash,
                           "hipart_version": __version__, **prov})
    state = fit(stage, rt, out, s.lr, s.weight_decay,
                lambda opt, per_epoch: warmup_cosine(opt, 0, s.epochs * per_epoch), ckpt, progress, log)
    if not rt.is_main:
        return {}
    table = score_table(method.task, predict_frames(method, model, s, test, rt.device), test.frames)
    with atomic_path(out.eval) as tmp:
        table.to_csv(tmp)
    sample = {k: v[:1].to(rt.device) for k, v in test.items.items()}
    complexity = _complexity(method, model, s, sample, _items_per_frame(test))
    summary = {"stage": kind, "method": method.name, "task": method.task, "settings": dataclasses.asdict(s),
               "config": cfg.name, "epochs": s.epochs, "steps": state["step"],
               "test": {**_averages(method.task, table), "frames": len(test.frames["action"])},
               "complexity": complexity, "hierarchy_hash": dataset.hierarchy_hash, "data": str(data_dir),
               "hipart_version": __version__}
    write_json_atomic(out.summary, summary)
    return summary


def _complexity(method: Method, model: nn.Module, s: Any, sample: dict[str, torch.Tensor], frames: int
                ) -> dict[str, float]:
    """Parameters and FLOPs per frame of the method's whole prediction (e.g. every DDIM step; token decoding)."""

    class Predict(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, dummy: torch.Tensor) -> Any:
            return method.predict(self.inner, sample, s)

    return count_params_flops(Predict(), torch.zeros(1), per=frames)

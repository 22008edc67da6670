"""``hipart bench speed``: frames per second of each method, in one process on one device (supplement Tables 2, 4).

Each entry is a callable that turns a batch of 2D test poses (pixels) into 3D: HiPART's is the whole pipeline
(HiARM greedy decoding, with and without the key/value cache, + MSST decoders + the hier lifter); the sparse lifter
and the diffusion baseline read the sparse pose; MixSTE-style lifters read windows of f frames (f = 1, 81, 243),
sparse or through HiPART per frame. ``batch`` counts frames per forward pass: a temporal model processes
ceil(batch / f) windows of f frames. Warm-up runs are excluded; FPS is frames / median wall time of ``repeats``
runs (CUDA synchronised). Model weights do not change the time, so a temporal length without a trained checkpoint
is timed with the run's settings at that length and its MPJPE left empty.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch

from hipart.bench import reference
from hipart.bench.common import BenchRun, Results
from hipart.bench.methods import clean_test_poses
from hipart.camera import normalize_pixels
from hipart.data.dataset import PoseDataset
from hipart.models.baselines import get_method, method_settings
from hipart.models.hipart import HiPART
from hipart.models.lifter import Lifter
from hipart.runs import StageDir
from hipart.skeleton import H36M
from hipart.training.baselines import load_baseline

Pipeline = Callable[[torch.Tensor], torch.Tensor]  # (B, 17, 2) px on the device -> 3D


def time_fps(fn: Pipeline, x: torch.Tensor, frames: int, repeats: int, warmup: int = 1) -> float:
    """Frames per second: ``frames`` / median seconds of ``fn(x)`` over ``repeats`` runs after ``warmup`` runs."""
    sync = torch.cuda.synchronize if x.device.type == "cuda" else (lambda: None)
    with torch.no_grad():
        for _ in range(warmup):
            fn(x)
        sync()
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn(x)
            sync()
            times.append(time.perf_counter() - t)
    return frames / float(np.median(times))


class Pipelines:
    """The run's models on one device, with the image size that normalizes pixels for the lifters."""

    def __init__(self, bench: BenchRun, device: torch.device, image_size: np.ndarray) -> None:
        self.bench, self.device = bench, device
        self.model = HiPART.from_run(bench.run, device)
        self.sparse_lifter = Lifter.load(bench.trained(bench.layout.lifter("sparse")).checkpoint)[0].to(device)
        self.size = torch.as_tensor(image_size, dtype=torch.float32, device=device)

    def normalize(self, joints: torch.Tensor) -> torch.Tensor:
        return normalize_pixels(joints, self.size.expand(len(joints), 2))

    def hierarchy(self, x_s: torch.Tensor, use_cache: bool = True) -> torch.Tensor:
        """(B, 17, 2) px -> (B, 161, 2) screen-normalized: x_s plus HiPART's dense and fine levels."""
        return self.normalize(self.model.levels(x_s, use_cache, batch_size=max(1, len(x_s))))

    def hipart(self, use_cache: bool) -> Pipeline:
        return lambda x: self.model(x, self.size, use_cache)["X"]

    def sparse(self) -> Pipeline:
        return lambda x: self.sparse_lifter(self.normalize(x))


def _summary(stage: StageDir) -> dict | None:
    return stage.read_summary() if stage.trained else None


def run_speed(bench: BenchRun, out: str | Path, batches: tuple[int, ...] = (1, 256),
              frames: tuple[int, ...] = (1, 81, 243), repeats: int = 5, device: torch.device = torch.device("cpu"),
              log: Callable[[str], None] = print) -> Results:
    x_all, _ = clean_test_poses(bench)
    size = PoseDataset(bench.data_dir, "test", fields=("x_s",), verify=False).image_size[0]
    p = Pipelines(bench, device, size)
    need = max(math.ceil(b / f) * f for b in batches for f in (1, *frames))
    x_px = torch.from_numpy(np.resize(x_all, (need, H36M.num_joints, 2))).to(device)
    # (label, windows -> pipeline, MPJPE, frames per window, parameters); per-frame methods have 1-frame windows
    entries: list[tuple[str, Callable[[int], Pipeline], float | None, int, int | None]] = []

    def per_frame(fn: Pipeline) -> Callable[[int], Pipeline]:
        return lambda windows: fn

    def mpjpe_of(stage: StageDir) -> float | None:
        s = _summary(stage)
        return s["test"]["mpjpe"] if s else None

    run = bench.layout
    hier_mpjpe = mpjpe_of(run.lifter("hier"))
    entries.append(("HiPART: HiARM (cached) + MSST + lifter", per_frame(p.hipart(True)), hier_mpjpe, 1,
                    _params(p.model)))
    entries.append(("HiPART without the key/value cache", per_frame(p.hipart(False)), hier_mpjpe, 1, None))
    entries.append(("sparse lifter (vanilla spatial transformer)", per_frame(p.sparse()),
                    mpjpe_of(run.lifter("sparse")), 1, _params(p.sparse_lifter)))
    diff_stage = run.stage(get_method("diffpose").folder_name(method_settings(bench.cfg, "diffpose")))
    if _summary(diff_stage):
        model, s, _ = load_baseline(diff_stage.checkpoint, "diffpose")
        model = model.to(device)
        entries.append((f"DiffPose-style ({s.sample_steps} DDIM steps, {s.hypotheses} hypothesis)",
                        per_frame(lambda x, m=model: m(p.normalize(x))), mpjpe_of(diff_stage), 1, _params(model)))
    else:
        log(f"diffpose: no checkpoint in {diff_stage.path}; left out of the speed table")
    mix, levels = get_method("mixste"), _levels(bench)
    base = method_settings(bench.cfg, "mixste")
    for f in frames:
        for inp in ("sparse", "hier"):
            s = dataclasses.replace(base, frames=f, input=inp)
            stage = run.stage(mix.folder_name(s))
            trained = _summary(stage)
            if trained:
                model = load_baseline(stage.checkpoint, "mixste")[0]
            else:
                torch.manual_seed(0)
                model = mix.build(s, {"levels": levels})
            model = model.to(device).eval()

            def make(w: int, m=model, f=f, inp=inp) -> Pipeline:
                def run(x: torch.Tensor) -> torch.Tensor:
                    x = x[:w * f]
                    joints = p.hierarchy(x) if inp == "hier" else p.normalize(x)
                    return m(joints.reshape(w, f, *joints.shape[1:]))
                return run
            label = f"MixSTE-style f={f}" + (" w/ HiPART" if inp == "hier" else "")
            entries.append((label, make, trained["test"]["mpjpe"] if trained else None, f,
                            _params(model, *((p.model.msst, p.model.hiarm) if inp == "hier" else ()))))
    rows = []
    for label, make_pipeline, err, f, params in entries:
        for b in batches:
            windows = math.ceil(b / f)
            n = windows * f
            fps = time_fps(make_pipeline(windows), x_px[:n], n, repeats)
            rows.append({"method": label, "batch": b, "frames per pass": n, "FPS": fps, "MPJPE": err,
                         "params": params})
            log(f"{label}, batch {b}: {fps:,.0f} frames/s")
    table = pd.DataFrame(rows).set_index("method").astype({"params": "Int64"})
    ref = pd.DataFrame(reference.SPEED).set_index("method")
    results = Results(out, "speed", bench, {"batches": list(batches), "frames": list(frames), "repeats": repeats,
                                            "device": str(device), "device_name": _device_name(device)})
    results.table(table, "speed", f"Frames per second on {_device_name(device)} and test MPJPE (mm), "
                                  f"{bench.data_label}", ".1f")
    results.table(ref, "paper_reference", f"Paper reference (Tables 2 and 4): {reference.SOURCE}", ".1f")
    results.finish(["MPJPE empty: that temporal length has no trained checkpoint; timed with the run's settings."])
    return results


def _levels(bench: BenchRun) -> dict[str, int]:
    return PoseDataset(bench.data_dir, "test", fields=("x_s",), verify=False).levels


def _params(*models: torch.nn.Module) -> int:
    return sum(q.numel() for m in models for q in m.parameters())


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({torch.get_num_threads()} threads)"

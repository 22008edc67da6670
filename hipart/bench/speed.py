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
import json
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
    """The run's models on one device, with the image size that normalises pixels for the lifters."""

    def __init__(self, bench: BenchRun, device: torch.device, image_size: np.ndarray) -> None:
        from hipart.training.hiarm import load_hiarm
        from hipart.training.lifter import load_lifter
        from hipart.training.msst import load_msst

        self.bench, self.device = bench, device
        self.msst = load_msst(bench.checkpoint("msst"))[0].to(device)
        self.hiarm = load_hiarm(bench.checkpoint("hiarm"))[0].to(device)
        self.lifters = {mode: load_lifter(bench.checkpoint(f"lifter_{mode}"))[0].to(device)
                        for mode in ("hier", "sparse")}
        self.size = torch.as_tensor(image_size, dtype=torch.float32, device=device)

    def normalise(self, joints: torch.Tensor) -> torch.Tensor:
        return normalize_pixels(joints, self.size.expand(len(joints), 2))

    def hierarchy(self, x_s: torch.Tensor, use_cache: bool = True) -> torch.Tensor:
        """(B, 17, 2) px -> (B, 161, 2) screen-normalised: x_s plus HiARM + MSST's dense and fine levels."""
        from hipart.training.hiarm import densify

        out = densify(self.hiarm, self.msst, x_s, use_cache, batch_size=max(1, len(x_s)))
        joints = torch.cat([x_s, out["x_d"].to(self.device), out["x_f"].to(self.device)], dim=1)
        return self.normalise(joints)

    def hipart(self, use_cache: bool) -> Pipeline:
        return lambda x: self.lifters["hier"](self.hierarchy(x, use_cache))

    def sparse(self) -> Pipeline:
        return lambda x: self.lifters["sparse"](self.normalise(x))


def _summary(folder: Path) -> dict | None:
    path = folder / "summary.json"
    return json.loads(path.read_text()) if path.is_file() and (folder / "checkpoint.pt").is_file() else None


def run_speed(bench: BenchRun, out: str | Path, batches: tuple[int, ...] = (1, 256),
              frames: tuple[int, ...] = (1, 81, 243), repeats: int = 5, device: torch.device = torch.device("cpu"),
              log: Callable[[str], None] = print) -> Results:
    from hipart.models.baselines import get_method, method_settings
    from hipart.training.baselines import load_baseline

    from hipart.data.dataset import PoseDataset

    x_all, _ = clean_test_poses(bench)
    size = PoseDataset(bench.data_dir, "test", fields=("x_s",), verify=False).image_size[0]
    p = Pipelines(bench, device, size)
    need = max(math.ceil(b / f) * f for b in batches for f in (1, *frames))
    x_px = torch.from_numpy(np.resize(x_all, (need, 17, 2))).to(device)
    # (label, windows -> pipeline, MPJPE, frames per window, parameters); per-frame methods have 1-frame windows
    entries: list[tuple[str, Callable[[int], Pipeline], float | None, int, int | None]] = []

    def per_frame(fn: Pipeline) -> Callable[[int], Pipeline]:
        return lambda windows: fn

    def mpjpe_of(folder: Path) -> float | None:
        s = _summary(folder)
        return s["test"]["mpjpe"] if s else None

    hier_mpjpe = mpjpe_of(bench.run / "lifter_hier")
    entries.append(("HiPART: HiARM (cached) + MSST + lifter", per_frame(p.hipart(True)), hier_mpjpe, 1,
                    _params(p.msst, p.hiarm, p.lifters["hier"])))
    entries.append(("HiPART without the key/value cache", per_frame(p.hipart(False)), hier_mpjpe, 1, None))
    entries.append(("sparse lifter (vanilla spatial transformer)", per_frame(p.sparse()),
                    mpjpe_of(bench.run / "lifter_sparse"), 1, _params(p.lifters["sparse"])))
    diff_folder = bench.run / get_method("diffpose").folder_name(method_settings(bench.cfg, "diffpose"))
    if _summary(diff_folder):
        model, s, _ = load_baseline(diff_folder / "checkpoint.pt", "diffpose")
        model = model.to(device)
        entries.append((f"DiffPose-style ({s.sample_steps} DDIM steps, {s.hypotheses} hypothesis)",
                        per_frame(lambda x, m=model: m(p.normalise(x))), mpjpe_of(diff_folder), 1, _params(model)))
    else:
        log(f"diffpose: no checkpoint in {diff_folder}; left out of the speed table")
    mix, levels = get_method("mixste"), _levels(bench)
    base = method_settings(bench.cfg, "mixste")
    for f in frames:
        for inp in ("sparse", "hier"):
            s = dataclasses.replace(base, frames=f, input=inp)
            folder = bench.run / mix.folder_name(s)
            trained = _summary(folder)
            if trained:
                model = load_baseline(folder / "checkpoint.pt", "mixste")[0]
            else:
                torch.manual_seed(0)
                model = mix.build(s, {"levels": levels})
            model = model.to(device).eval()

            def make(w: int, m=model, f=f, inp=inp) -> Pipeline:
                def run(x: torch.Tensor) -> torch.Tensor:
                    x = x[:w * f]
                    joints = p.hierarchy(x) if inp == "hier" else p.normalise(x)
                    return m(joints.reshape(w, f, *joints.shape[1:]))
                return run
            label = f"MixSTE-style f={f}" + (" w/ HiPART" if inp == "hier" else "")
            entries.append((label, make, trained["test"]["mpjpe"] if trained else None, f,
                            _params(model, *((p.msst, p.hiarm) if inp == "hier" else ()))))
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
    from hipart.data.dataset import PoseDataset

    return PoseDataset(bench.data_dir, "test", fields=("x_s",), verify=False).levels


def _params(*models: torch.nn.Module) -> int:
    return sum(q.numel() for m in models for q in m.parameters())


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({torch.get_num_threads()} threads)"

"""``hipart bench speed``: frames per second, FLOPs per frame and the share of the device's matmul peak that each
method reaches, in one process on one device (supplement Tables 2 and 4; docs/design.md, "The speed bench").

Entries, each a function of a batch of 2D test poses in pixels:
  * HiPART's whole path (HiARM greedy decoding + MSST decoders + hier lifter) with each decoding: fast (static
    key/value cache under inference mode, compiled according to ``compile``), the same not compiled (when the fast
    one is), eager with the growing cache, eager without a cache;
  * HiARM's 17 decoding steps alone, fast and eager (growing cache);
  * the sparse lifter, the diffusion baseline (when trained), and MixSTE-style lifters on windows of f frames, on the
    sparse pose or on HiPART's levels (fast decoding) per frame.
``batch`` counts frames per forward pass: a temporal model processes ceil(batch / f) windows of f frames.

Timing: each entry runs ``warmup`` times per batch (this compiles; the first call's seconds are reported), then
``repeats`` rounds, each running every entry and a (size x size) fp32 matmul, the device's peak. Load from other
processes on a shared machine then spreads over all entries of a round instead of landing on one of them. In a round
an entry runs back to back until ``ROUND_SECONDS`` have passed (a batch-256 call: once; a batch-1 call: dozens of
times) and its time is the mean per call: frames per second of a stream, not the latency of one call made cold
after another entry's work evicted its weights from the caches. FPS = frames / median seconds; spread = (max - min)
/ median of the rounds' FPS; a ratio of two entries is the median of their per-round ratios. FLOPs per frame are
counted by FlopCounterMode (matrix products and attention; elementwise work is not counted) on each entry's eager
equivalent (the fast path's attention spans the whole static cache, a little more than the growing cache's);
achieved GFLOP/s = FLOPs per frame x FPS, and % of peak divides it by the matmul's GFLOP/s of the same run. Model
weights do not change the time, so a temporal length without a trained checkpoint is timed with the run's settings
at that length and its MPJPE left empty.
"""

from __future__ import annotations

import dataclasses
import math
from time import perf_counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Hashable

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile

from hipart.bench import reference
from hipart.bench.common import BenchRun, Results
from hipart.bench.methods import clean_test_poses
from hipart.camera import normalize_pixels
from hipart.data.dataset import PoseDataset
from hipart.errors import HipartError
from hipart.models.baselines import get_method, method_settings
from hipart.models.complexity import count_params_flops
from hipart.models.hipart import HiPART
from hipart.models.lifter import Lifter
from hipart.models.msst import PoseNormalizer
from hipart.runs import StageDir
from hipart.skeleton import H36M
from hipart.training.baselines import BaselineContext, load_baseline

Pipeline = Callable[[torch.Tensor], Any]  # (B, 17, 2) px on the device -> 3D (or tokens)
PEAK_SIZE = 2048  # the peak matmul is (PEAK_SIZE x PEAK_SIZE) @ (PEAK_SIZE x PEAK_SIZE), fp32
PROFILE_ROWS = 10
ROUND_SECONDS = 0.05  # least time an entry runs per round (back to back calls; their mean is timed)

FAST = "HiPART: fast decoding"
FAST_EAGER = "HiPART: fast decoding, not compiled"
CACHED = "HiPART: eager decoding, growing cache"
UNCACHED = "HiPART: eager decoding, no cache"
HIARM_FAST = "HiARM decoding alone: fast"
HIARM_EAGER = "HiARM decoding alone: eager, growing cache"
SPARSE = "sparse lifter (vanilla spatial transformer)"


@dataclass
class Entry:
    """One method of the speed table, timed at every batch size."""

    label: str
    make: Callable[[int], Pipeline]  # windows -> pipeline on (windows * frames, 17, 2) px
    frames: int = 1  # frames per window (1: a per-frame method)
    mpjpe: float | None = None
    models: tuple[nn.Module, ...] = ()  # whose parameters the table counts
    count: Callable[[int], Pipeline] | None = None  # eager equivalent whose FLOPs are counted (default: make)


def per_frame(fn: Pipeline) -> Callable[[int], Pipeline]:
    return lambda windows: fn


class _AsModule(nn.Module):
    """A pipeline as a module for ``count_params_flops``: its models as children, the pipeline as forward."""

    def __init__(self, fn: Pipeline, models: tuple[nn.Module, ...]) -> None:
        super().__init__()
        self.fn, self.models = fn, nn.ModuleList(models)

    def forward(self, x: torch.Tensor) -> Any:
        return self.fn(x)


def flops_per_frame(fn: Pipeline, x: torch.Tensor, models: tuple[nn.Module, ...] = ()) -> float:
    """FLOPs of ``fn(x)`` per frame of x, counted (matrix products and attention)."""
    return count_params_flops(_AsModule(fn, models).eval(), (x,), per=len(x))["flops_per_item"]


def time_rounds(calls: dict[Hashable, Callable[[], Any]], repeats: int, warmup: int, device: torch.device,
                log: Callable[[str], None] = print, round_seconds: float | None = None
                ) -> tuple[dict[Hashable, float], dict[Hashable, list[float]]]:
    """Seconds per call of each call: its first call, and in each of ``repeats`` rounds the mean over calls made
    back to back until ``round_seconds`` (default ``ROUND_SECONDS``) have passed, every call in turn (after
    ``warmup`` calls of each, the first included)."""
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    least = ROUND_SECONDS if round_seconds is None else round_seconds

    def timed(fn: Callable[[], Any], least: float = 0.0) -> float:
        start, count = perf_counter(), 0
        while True:
            fn()
            sync()
            count += 1
            elapsed = perf_counter() - start
            if elapsed >= least:
                return elapsed / count

    first: dict[Hashable, float] = {}
    with torch.no_grad():
        for key, fn in calls.items():
            first[key] = timed(fn)
            for _ in range(warmup - 1):
                fn()
        sync()
        times: dict[Hashable, list[float]] = {key: [] for key in calls}
        for r in range(repeats):
            for key, fn in calls.items():
                times[key].append(timed(fn, least))
            log(f"round {r + 1}/{repeats} done")
    return first, times


def matmul_call(device: torch.device, size: int = PEAK_SIZE, dtype: torch.dtype = torch.float32
                ) -> tuple[Callable[[], Any], float]:
    """A (size x size) @ (size x size) product to time, and its FLOPs (2 size^3)."""
    g = torch.Generator().manual_seed(0)
    a, b = (torch.randn(size, size, generator=g).to(device, dtype) for _ in range(2))
    return (lambda: a @ b), 2.0 * size ** 3


def speed_table(entries: list[Entry], x_px: torch.Tensor, batches: tuple[int, ...], repeats: int,
                device: torch.device, warmup: int = 2, peak_size: int = PEAK_SIZE,
                log: Callable[[str], None] = print) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Time every entry at every batch in interleaved rounds, with the matmul peak; count FLOPs per frame.

    Returns the table (one row per method and batch: frames per pass, FPS (median), spread %, first call s,
    FLOPs/frame (M), GFLOP/s, % of peak, MPJPE, params) and ``{"peak": GFLOP/s (median), "peak_range": (min, max),
    "fps": {(label, batch): [per-round FPS]}}`` for ratios.
    """
    labels = [e.label for e in entries]
    if len(set(labels)) != len(labels):
        raise HipartError(f"speed table: duplicate methods {sorted({x for x in labels if labels.count(x) > 1})}")
    peak_fn, peak_flops = matmul_call(device, peak_size)
    calls: dict[Hashable, Callable[[], Any]] = {"peak": peak_fn}
    frames: dict[Hashable, int] = {}
    for e in entries:
        for b in batches:
            windows = math.ceil(b / e.frames)
            n = windows * e.frames
            if n > len(x_px):
                raise HipartError(f"speed table: {n} frames needed for {e.label} at batch {b}, {len(x_px)} given")
            fn, x = e.make(windows), x_px[:n]
            calls[(e.label, b)] = lambda fn=fn, x=x: fn(x)
            frames[(e.label, b)] = n
    first, times = time_rounds(calls, repeats, warmup, device, log)
    peak_samples = [peak_flops / t / 1e9 for t in times["peak"]]
    peak = float(np.median(peak_samples))
    rows, fps_rounds = [], {}
    for e in entries:
        flops = flops_per_frame((e.count or e.make)(1), x_px[:e.frames], e.models)
        params = sum(p.numel() for p in nn.ModuleList(e.models).parameters()) if e.models else None
        for b in batches:
            n = frames[(e.label, b)]
            samples = [n / t for t in times[(e.label, b)]]
            fps = float(np.median(samples))
            fps_rounds[(e.label, b)] = samples
            gflops = flops * fps / 1e9
            rows.append({"method": e.label, "batch": b, "frames per pass": n, "FPS": fps,
                         "spread %": (max(samples) - min(samples)) / fps * 100, "first call s": first[(e.label, b)],
                         "FLOPs/frame (M)": flops / 1e6, "GFLOP/s": gflops, "% of peak": gflops / peak * 100,
                         "MPJPE": e.mpjpe, "params": params})
            log(f"{e.label}, batch {b}: {fps:,.1f} frames/s, {gflops:.2f} GFLOP/s ({gflops / peak:.1%} of peak)")
    table = pd.DataFrame(rows).set_index("method").astype({"params": "Int64"})
    return table, {"peak": peak, "peak_range": (min(peak_samples), max(peak_samples)), "fps": fps_rounds}


def paired_ratio(fps: dict[tuple[str, int], list[float]], a: str, b: str, batch: int) -> tuple[float, float, float]:
    """Median, min and max over rounds of FPS(a) / FPS(b) at ``batch`` (both timed in every round)."""
    r = [x / y for x, y in zip(fps[(a, batch)], fps[(b, batch)])]
    return float(np.median(r)), min(r), max(r)


def profile_top_ops(fn: Callable[[], Any], runs: int = 3, rows: int = PROFILE_ROWS) -> pd.DataFrame:
    """The ops that take the most self time over ``runs`` calls of ``fn`` (torch.profiler, CPU and CUDA time):
    ms per call, calls per call, share of all self time. Compiled graphs' own time (inductor's fused kernels) is
    one row, TorchDynamo's guard checks another."""
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
    fn()
    with torch.no_grad(), profile(activities=activities) as prof:
        for _ in range(runs):
            fn()
    totals: dict[str, list[float]] = {}
    for ev in prof.key_averages():
        name = ev.key
        if name.startswith("## Call CompiledFxGraph"):
            name = "compiled graphs: inductor's fused kernels (self time)"
        elif name == "TorchDynamo Cache Lookup":
            name = "TorchDynamo guard checks (cache lookup)"
        self_us = ev.self_cpu_time_total + getattr(ev, "self_device_time_total", 0.0)
        t = totals.setdefault(name, [0.0, 0.0])
        t[0] += self_us
        t[1] += ev.count
    all_us = sum(t[0] for t in totals.values()) or 1.0
    top = sorted(totals.items(), key=lambda kv: -kv[1][0])[:rows]
    return pd.DataFrame([{"op": name, "ms per call": us / runs / 1e3, "calls per call": count / runs,
                          "% of self time": us / all_us * 100} for name, (us, count) in top]).set_index("op")


class Pipelines:
    """The run's models on one device, with the image size that normalizes pixels for the lifters. ``model``
    decodes fast (compiled per ``compile``, from its first call: the steady state is what is timed); ``eager``
    shares its weights and decodes without compiling."""

    def __init__(self, bench: BenchRun, device: torch.device, image_size: np.ndarray, compile: bool | str = "auto",
                 precision: str = "fp32") -> None:
        self.bench, self.device = bench, device
        self.model = HiPART.from_run(bench.run, device, compile=compile, precision=precision)
        self.model.policy.compile_after = 0
        m = self.model
        self.eager = HiPART(m.msst, m.hiarm, m.lifter, compile=False, precision=precision)
        self.sparse_lifter = Lifter.load(bench.trained(bench.layout.lifter("sparse")).checkpoint)[0].to(device)
        self.size = torch.as_tensor(image_size, dtype=torch.float32, device=device)

    def normalize(self, joints: torch.Tensor) -> torch.Tensor:
        return normalize_pixels(joints, self.size.expand(len(joints), 2))

    @staticmethod
    def confidence(x_s: torch.Tensor) -> torch.Tensor:
        """(B, 17, 2) true keypoints -> their confidence (B, 17), 1 everywhere: what a model that reads the
        confidence is given here (one that does not ignores it)."""
        return torch.ones(x_s.shape[:-1], device=x_s.device)

    def hierarchy(self, x_s: torch.Tensor) -> torch.Tensor:
        """(B, 17, 2) px -> (B, 161, 2) screen-normalized: x_s plus HiPART's dense and fine levels (fast)."""
        return self.normalize(self.model.levels(x_s, "fast", batch_size=max(1, len(x_s))))

    def hipart(self, model: HiPART, decoding: str) -> Pipeline:
        return lambda x: model(x, self.size, decoding)["X"]

    def hiarm(self, decode: Callable[[torch.Tensor], Any]) -> Pipeline:
        """HiARM's decoding alone: (B, 17, 2) px -> tokens."""
        def run(x: torch.Tensor) -> Any:
            root, scale = PoseNormalizer.frame(x)
            return decode(PoseNormalizer.normalize(x, root, scale), c=self.confidence(x))
        return run

    def sparse(self) -> Pipeline:
        return lambda x: self.sparse_lifter(self.normalize(x), self.confidence(x))


def _summary(stage: StageDir) -> dict | None:
    return stage.read_summary() if stage.trained else None


def run_speed(bench: BenchRun, out: str | Path, batches: tuple[int, ...] = (1, 256),
              frames: tuple[int, ...] = (1, 81, 243), repeats: int = 5, device: torch.device = torch.device("cpu"),
              log: Callable[[str], None] = print, compile: bool | str = "auto", precision: str = "fp32",
              warmup: int = 2, peak_size: int = PEAK_SIZE, profile_ops: bool = True, threads: int | None = None
              ) -> Results:
    """Time every entry (module docstring) and write speed, ratios, profile and paper-reference tables into
    ``out/speed``. ``threads``: torch's CPU threads for the run (default: as set)."""
    if threads is not None:
        torch.set_num_threads(threads)
    x_all, _ = clean_test_poses(bench)
    size = PoseDataset(bench.data_dir, "test", fields=("x_s",), verify=False).image_size[0]
    p = Pipelines(bench, device, size, compile, precision)
    need = max(math.ceil(b / f) * f for b in batches for f in (1, *frames))
    x_px = torch.from_numpy(np.resize(x_all, (need, H36M.num_joints, 2))).to(device)

    def mpjpe_of(stage: StageDir) -> float | None:
        s = _summary(stage)
        return s["test"]["mpjpe"] if s else None

    run = bench.layout
    hier = mpjpe_of(run.lifter("hier"))
    m, eager = p.model, p.eager
    # the cached and fast decodings do the same work: FLOPs counted once, on the eager growing-cache path
    cached_hipart, cached_hiarm = per_frame(p.hipart(eager, "cached")), per_frame(p.hiarm(m.hiarm.generate))
    entries = [Entry(FAST, per_frame(p.hipart(m, "fast")), 1, hier, (m,), cached_hipart)]
    if compile is not False:
        entries.append(Entry(FAST_EAGER, per_frame(p.hipart(eager, "fast")), 1, hier, (m,), cached_hipart))
    entries += [Entry(CACHED, cached_hipart, 1, hier, (m,)),
                Entry(UNCACHED, per_frame(p.hipart(eager, "uncached")), 1, hier, (m,)),
                Entry(HIARM_FAST, per_frame(p.hiarm(m.decoder)), 1, None, (m.hiarm,), cached_hiarm),
                Entry(HIARM_EAGER, cached_hiarm, 1, None, (m.hiarm,)),
                Entry(SPARSE, per_frame(p.sparse()), 1, mpjpe_of(run.lifter("sparse")), (p.sparse_lifter,))]
    diffusion = None
    diff_stage = run.stage(get_method("diffpose").folder_name(method_settings(bench.cfg, "diffpose")))
    if _summary(diff_stage):
        model, s, _ = load_baseline(diff_stage.checkpoint, "diffpose")
        model = model.to(device).eval()
        diffusion = f"DiffPose-style ({s.sample_steps} DDIM steps, {s.hypotheses} hypothesis)"
        entries.append(Entry(diffusion, per_frame(lambda x, d=model: d(p.normalize(x), c=p.confidence(x))), 1,
                             mpjpe_of(diff_stage),
                             (model,)))
    else:
        log(f"diffpose: no checkpoint in {diff_stage.path}; left out of the speed table")
    mix = get_method("mixste")
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
                model = mix.build(s, BaselineContext(bench.cfg, bench.data_dir, bench.run).info(mix, s))
            model = model.to(device).eval()

            def make(w: int, mixer: nn.Module = model, f: int = f, inp: str = inp, hipart: HiPART = m,
                     decoding: str = "fast") -> Pipeline:
                def run_windows(x: torch.Tensor) -> torch.Tensor:
                    x = x[:w * f]
                    joints = (p.normalize(hipart.levels(x, decoding, batch_size=max(1, len(x)))) if inp == "hier"
                              else p.normalize(x))
                    return mixer(joints.reshape(w, f, *joints.shape[1:]), p.confidence(x).reshape(w, f, -1))
                return run_windows
            label = f"MixSTE-style f={f}" + (" w/ HiPART" if inp == "hier" else "")
            entries.append(Entry(label, make, f, trained["test"]["mpjpe"] if trained else None,
                                 (model, *((m.msst, m.hiarm) if inp == "hier" else ())),
                                 (lambda w, make=make: make(w, hipart=eager, decoding="cached")) if inp == "hier"
                                 else None))
    table, timing = speed_table(entries, x_px, batches, repeats, device, warmup, peak_size, log)
    peak = timing["peak"]
    h = m.hiarm.cfg  # the share of the peak depends on the model's width (docs/speed.md)
    ratios = _ratios(timing["fps"], table, batches, diffusion, peak, f"L2 {h.num_blocks}, D2 {h.dim}")
    ratios += _agreement(p, x_px[:max(batches)])
    ratios.append({"ratio": f"fp32 matmul {peak_size}^2, GFLOP/s (the peak)", "batch": None, "measured": peak,
                   "min": timing["peak_range"][0], "max": timing["peak_range"][1]})
    ratios_df = pd.DataFrame(ratios).set_index("ratio")
    compiled = "compiled (torch.compile, inductor)" if m.decoder.compiled else "not compiled"
    state = f"fast decoding: static key/value cache under inference mode, {compiled}, {precision}" + \
        (f"; {m.decoder.warned[0]}" if m.decoder.warned else "")
    results = Results(out, "speed", bench, {
        "batches": list(batches), "frames": list(frames), "repeats": repeats, "warmup": warmup,
        "device": str(device), "device_name": _device_name(device), "threads": torch.get_num_threads(),
        "compile": compile, "precision": precision,
        "fast_decoding_compiled": m.decoder.compiled, "peak_matmul": {"size": peak_size, "dtype": "float32",
                                                                        "gflops": peak,
                                                                        "gflops_range": timing["peak_range"]}})
    results.table(table, "speed", f"Frames per second, FLOPs per frame and share of the fp32 matmul peak "
                                  f"({peak:.1f} GFLOP/s, {peak_size}^2, median of {repeats}) on "
                                  f"{_device_name(device)}; test MPJPE (mm), {bench.data_label}", ".2f")
    results.table(ratios_df, "ratios", f"Ratios measured in this run (medians of per-round ratios; min and max over "
                                       f"the rounds) on {_device_name(device)}", ".2f")
    if profile_ops:
        for b in sorted({min(batches), max(batches)}):
            x = x_px[:b]
            top = profile_top_ops(lambda x=x: p.hiarm(m.decoder)(x))
            lumped = " (with inductor's C++ wrapper the matrix products run inside the compiled graphs' row)" \
                if device.type == "cpu" and m.decoder.compiled else ""
            results.table(top, f"profile_hiarm_batch{b}", f"Where HiARM's fast decoding spends its time at batch "
                                                        f"{b}: top ops by self time (torch.profiler){lumped}", ".2f")
    ref = pd.DataFrame(reference.SPEED).set_index("method")
    results.table(ref, "paper_reference", f"Paper reference (Tables 2 and 4): {reference.SOURCE}", ".1f")
    results.finish([state, "MPJPE empty: that temporal length has no trained checkpoint; timed with the run's "
                           "settings.", "FLOPs/frame: matrix products and attention (FlopCounterMode) of each "
                                    "entry's eager equivalent; elementwise work (norms, GELU, softmax) is not counted."])
    return results


def peak_shares(fps_rounds: list[float], mflops_per_frame: float, peak: float) -> list[float]:
    """Each round's share of the matmul ``peak`` (GFLOP/s), in %, for frames/s ``fps_rounds`` of an entry of
    ``mflops_per_frame`` (``speed_table``'s "FLOPs/frame (M)")."""
    return [mflops_per_frame * fps / 1e3 / peak * 100 for fps in fps_rounds]


def _ratios(fps: dict, table: pd.DataFrame, batches: tuple[int, ...], diffusion: str | None, peak: float,
            hiarm_size: str) -> list[dict[str, Any]]:
    rows = []

    def add(name: str, b: int, a: str, over: str) -> None:
        med, lo, hi = paired_ratio(fps, a, over, b)
        rows.append({"ratio": name, "batch": b, "measured": med, "min": lo, "max": hi})

    for b in batches:
        add("HiPART fast / eager (growing cache), frames/s", b, FAST, CACHED)
        add("HiARM decoding fast / eager (growing cache), frames/s", b, HIARM_FAST, HIARM_EAGER)
        if diffusion:
            add("HiPART fast / diffusion baseline, frames/s", b, FAST, diffusion)
            add("HiPART eager (growing cache) / diffusion baseline, frames/s", b, CACHED, diffusion)
    for b in batches:
        row = table[(table.index == HIARM_FAST) & (table["batch"] == b)].iloc[0]
        shares = peak_shares(fps[(HIARM_FAST, b)], row["FLOPs/frame (M)"], peak)
        rows.append({"ratio": f"HiARM decoding fast ({hiarm_size}), % of the matmul peak", "batch": b,
                     "measured": row["% of peak"], "min": min(shares), "max": max(shares)})
    return rows


def _agreement(p: Pipelines, x_px: torch.Tensor) -> list[dict[str, Any]]:
    """Fast decoding against eager fp32 (growing cache) on the same frames: token agreement, x_f difference."""
    fast, eager = p.model.densify(x_px, "fast"), p.eager.densify(x_px, "cached")
    same = torch.cat([(fast["q_s"] == eager["q_s"]).flatten(), (fast["q_d"] == eager["q_d"]).flatten()])
    diff = (fast["x_f"] - eager["x_f"]).norm(dim=-1)
    n = len(x_px)
    return [{"ratio": f"fast vs eager fp32: tokens equal, % ({n} frames)", "batch": n,
             "measured": same.float().mean().item() * 100, "min": None, "max": None},
            {"ratio": "fast vs eager fp32: x_f difference, px (mean; max)", "batch": n,
             "measured": diff.mean().item(), "min": None, "max": diff.max().item()}]


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({torch.get_num_threads()} threads)"

"""Dataset frames per second: the fast path (pooling folded into skinning) against the full mesh, in one run.

    python benchmarks/bench_dataset.py [--sequences 6] [--frames 1000] [--stride 5] [--repeats 3] [--threads N]
                                       [--full-build]

Both paths run the same shards of the embedded default capture end to end (motion -> posing -> world rows ->
4 cameras -> projection), without writing files, and must agree to 1e-4 mm. One "image" is a posed frame seen by
one camera. The body stage alone (bone transforms given, world rows out) is timed separately: that is the part
the fast path changes; motion, posing (forward kinematics) and projection cost both paths the same. ``--full-build`` also times a complete default build (paper preset) into a temporary
folder, writing and checksumming every shard.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch
from _timing import median_time

from hipart.config import load_config
from hipart.data.build import build_dataset
from hipart.data.prepare import make_source


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sequences", type=int, default=6, help="(subject, action, subaction) tasks to time")
    ap.add_argument("--frames", type=int, default=1000, help="frames generated per sequence")
    ap.add_argument("--stride", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--full-build", action="store_true", help="also time a whole default build (paper preset)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_config("paper", {"data": {"frames_per_action": args.frames, "train_stride": args.stride,
                                         "test_stride": args.stride}})
    source = make_source(cfg, log=lambda m: None)
    source.check()
    tasks = source.tasks()[:: max(1, len(source.tasks()) // args.sequences)][: args.sequences]

    def run(fast: bool) -> list[dict[str, np.ndarray]]:
        return [shard.arrays for task in tasks for shard in source.run(task, set(), fast)]

    fast_out, full_out = run(True), run(False)
    images = sum(len(a["frame"]) for a in fast_out)
    worst = max(float(np.abs(f[k].astype(np.float64) - g[k]).max())
                for f, g in zip(fast_out, full_out) for k in ("X_s", "X_d", "X_f"))
    t_fast = median_time(lambda: run(True), args.repeats)
    t_full = median_time(lambda: run(False), max(1, args.repeats // 2))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {len(tasks)} sequences x "
          f"{args.frames // args.stride} frames x 4 cameras = {images} images per run")
    print(f"skinning pairs: fast {source._folded(tasks[0].name.split('_')[0]).num_pairs}, "
          f"full {source.capture.body.skinning().num_pairs}")
    print(f"{'path':<36} {'s/run':>8} {'images/s':>10}")
    print(f"{'fast (161 folded rows)':<36} {t_fast:8.3f} {images / t_fast:10.0f}")
    print(f"{'full (13,452 points, then pooled)':<36} {t_full:8.3f} {images / t_full:10.0f}")
    print(f"end-to-end ratio fast/full: {t_full / t_fast:.1f}x; max |fast - full| in stored float32 rows: "
          f"{worst:.2e} mm")
    subject, action, sub = source._parse(tasks[0])
    frames = np.arange(0, args.frames, args.stride)
    T = source.capture.sequence(subject, action, sub, frames=frames).transforms
    folded = source._folded(subject)
    skin = source.capture.body.skinning(source.capture.subjects[subject].phenotype)
    from hipart.data.sources import full_path_rows

    s_fast = median_time(lambda: folded.apply(T), args.repeats * 3)
    s_full = median_time(lambda: full_path_rows(skin, source.pool, T, None), args.repeats)
    print(f"body stage only ({len(frames)} posed frames, transforms given): fast {len(frames) / s_fast:.0f} "
          f"frames/s, full {len(frames) / s_full:.0f} frames/s, ratio {s_full / s_fast:.0f}x")
    if args.full_build:
        with tempfile.TemporaryDirectory() as tmp:
            full_cfg = load_config("paper")
            build_source = make_source(full_cfg, log=lambda m: None)
            start = time.perf_counter()
            manifest = build_dataset(build_source, tmp, progress=False, log=lambda m: None)
            seconds = time.perf_counter() - start
            total = manifest["counts"]["train"] + manifest["counts"]["test"]
            size = sum(r["bytes"] for r in manifest["shards"]) / 1e6
            print(f"full default build (paper preset): {total} images in {seconds:.1f} s "
                  f"({total / seconds:.0f} images/s), {len(manifest['shards'])} shards, {size:.0f} MB")


if __name__ == "__main__":
    main()

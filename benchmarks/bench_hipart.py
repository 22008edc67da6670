"""HiARM's greedy decoding, fast (static cache, compiled) against eager (growing cache), without a trained run.

    python benchmarks/bench_hipart.py [--config demo] [--batch 1 --batch 256] [--repeats 7] [--threads 2]
                                      [--no-compile] [--precision fp32|bf16] [--profile]

A HiARM of the preset's architecture with random weights (the time does not depend on them) decodes random
normalized poses. Every variant runs once per round, beside a 2048^2 fp32 matmul (the peak), so that load from other
processes spreads over all of them; FPS is the median over rounds, ratios are medians of per-round ratios. Prints
the first call's seconds (compiling), FLOPs per frame (counted on the eager path), GFLOP/s and % of the peak, the
token agreement of fast with eager, and with --profile the top ops of the fast decoding (torch.profiler).
"""

from __future__ import annotations

import argparse
import time

import torch

from hipart.bench.speed import Entry, paired_ratio, per_frame, profile_top_ops, speed_table
from hipart.config import load_config
from hipart.models.fast import FastDecoder
from hipart.models.hiarm import HiARM


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="demo", help="preset or YAML whose hiarm / msst architecture is timed")
    ap.add_argument("--batch", type=int, action="append", help="frames per call (repeatable; default 1 and 256)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--no-compile", action="store_true", help="fast decoding without torch.compile")
    ap.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    ap.add_argument("--profile", action="store_true", help="print the top ops of the fast decoding per batch")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    batches = tuple(args.batch or (1, 256))
    cfg = load_config(args.config)
    torch.manual_seed(0)
    m = cfg.msst
    hiarm = HiARM(cfg.hiarm, m.tokens_per_part, m.codebook_size_sparse, m.codebook_size_dense).eval()
    fast = FastDecoder(hiarm, compile=not args.no_compile, precision=args.precision)
    entries = [Entry("fast", per_frame(fast), count=per_frame(hiarm.generate), models=(hiarm,)),
               Entry("eager, growing cache", per_frame(hiarm.generate), models=(hiarm,))]
    x = torch.randn(max(batches), 17, 2, generator=torch.Generator().manual_seed(1))
    start = time.perf_counter()
    table, timing = speed_table(entries, x, batches, args.repeats, torch.device("cpu"), log=lambda m: None)
    q_fast, q_eager = fast(x), hiarm.generate(x)
    same = torch.cat([(q_fast[0] == q_eager[0]).flatten(), (q_fast[1] == q_eager[1]).flatten()]).float().mean()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, HiARM of '{args.config}' "
          f"({sum(p.numel() for p in hiarm.parameters()):,} parameters), fast: "
          f"{'compiled' if fast.compiled else 'not compiled'}, {args.precision}; {time.perf_counter() - start:.0f} s")
    lo, hi = timing["peak_range"]
    print(f"fp32 matmul 2048^2: {timing['peak']:.1f} GFLOP/s (range {lo:.1f}-{hi:.1f})")
    cols = ["batch", "FPS", "spread %", "first call s", "FLOPs/frame (M)", "GFLOP/s", "% of peak"]
    print(table[cols].to_string(float_format=lambda v: f"{v:.2f}"))
    for b in batches:
        med, r_lo, r_hi = paired_ratio(timing["fps"], "fast", "eager, growing cache", b)
        print(f"batch {b}: fast / eager = {med:.2f} (rounds {r_lo:.2f}-{r_hi:.2f})")
    print(f"tokens equal to eager fp32: {same.item():.2%} of {x.shape[0]} frames")
    if args.profile:
        for b in batches:
            print(f"\ntop ops, fast decoding, batch {b}:")
            print(profile_top_ops(lambda b=b: fast(x[:b])).to_string(float_format=lambda v: f"{v:.2f}"))


if __name__ == "__main__":
    main()

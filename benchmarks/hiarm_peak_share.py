"""How close HiARM's fast decoding comes to the device's matmul peak, by model size.

`hipart bench speed` measures a trained run's HiARM; this script times the fast (compiled, static-cache) greedy
decoding of HiARMs of the presets' sizes (demo: L2 4, D2 64; bench: L2 6, D2 96; paper: the supplement's
L2 12, D2 128, 8 heads) with random weights, in the same interleaved rounds as a (size x size) fp32 matmul, the
peak. The arithmetic of a decoding does not depend on the weights (greedy decoding always runs its 17 steps), so
untrained models give the trained ones' speed. FLOPs are counted on the eager decoding, as `bench speed` does.

    python benchmarks/hiarm_peak_share.py --threads 2                  # demo, bench, paper at batch 256
    python benchmarks/hiarm_peak_share.py --presets paper --batch 1 --batch 256

Prints one row per preset and batch: frames/s, GFLOP/s and % of the matmul peak (`bench speed`'s `speed_table`:
median frames/s over rounds against the median peak, with the per-round range of the share), and writes nothing.
"""

from __future__ import annotations

import argparse

import torch

from hipart.bench.speed import PEAK_SIZE, Entry, peak_shares, per_frame, speed_table
from hipart.config import load_config
from hipart.errors import HipartError
from hipart.models.fast import FastDecoder
from hipart.models.hiarm import HiARM
from hipart.models.hiarm_fast import StaticDecoder


def build(preset: str) -> tuple[HiARM, str]:
    """A randomly initialised HiARM of ``preset``'s size, in eval mode, and its size in words."""
    cfg = load_config(preset)
    torch.manual_seed(0)
    hiarm = HiARM(cfg.hiarm, cfg.msst.tokens_per_part, cfg.msst.codebook_size_sparse,
                  cfg.msst.codebook_size_dense).eval()
    h = cfg.hiarm
    return hiarm, (f"L2 {h.num_blocks}, D2 {h.dim}, {h.heads} heads, r {cfg.msst.tokens_per_part}, "
                   f"codebooks {cfg.msst.codebook_size_sparse}/{cfg.msst.codebook_size_dense}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", default=["demo", "bench", "paper"])
    parser.add_argument("--batch", type=int, action="append", help="frames per call (default 256; repeatable)")
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds (median over rounds)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--peak-size", type=int, default=PEAK_SIZE)
    args = parser.parse_args()
    batches = tuple(args.batch or [256])
    if min(batches) < 1 or args.repeats < 1 or args.peak_size < 1 or \
            (args.threads is not None and args.threads < 1):
        raise HipartError("--batch, --repeats, --peak-size and --threads must be positive")
    if args.threads:
        torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(max(batches), 17, 2, generator=g) * 0.3  # normalized sparse poses

    entries = []
    for preset in args.presets:
        hiarm, size = build(preset)
        decoder = FastDecoder(hiarm, compile=True)
        with torch.inference_mode():
            eager, fast = StaticDecoder(hiarm).decode(x), decoder(x)
        same = torch.equal(eager[0], fast[0]) and torch.equal(eager[1], fast[1])
        print(f"{preset} ({size}): compiled {decoder.compiled}, tokens equal to eager decoding: {same}")
        # timed: the fast decoding; FLOPs counted on the eager growing-cache decoding, as `bench speed` does
        entries.append(Entry(preset, per_frame(decoder), models=(hiarm,), count=per_frame(hiarm.generate)))
    table, timing = speed_table(entries, x, batches, args.repeats, torch.device("cpu"), peak_size=args.peak_size,
                                log=lambda _: None)
    peak, (low, high) = timing["peak"], timing["peak_range"]
    print(f"\nfp32 matmul {args.peak_size}^2 (the peak): median {peak:.1f} GFLOP/s (rounds {low:.1f}-{high:.1f}), "
          f"{torch.get_num_threads()} threads")
    print(f"{'preset':8s} {'batch':>5s} {'MFLOP/frame':>11s} {'frames/s':>10s} {'GFLOP/s':>8s} "
          f"{'% of peak':>9s} {'(rounds)':>13s}")
    for preset, row in table.iterrows():
        # per-round shares against the median peak, as `bench speed`'s ratio table gives them
        share = peak_shares(timing["fps"][(preset, row["batch"])], row["FLOPs/frame (M)"], peak)
        print(f"{preset:8s} {row['batch']:5d} {row['FLOPs/frame (M)']:11.1f} {row['FPS']:10,.0f} "
              f"{row['GFLOP/s']:8.1f} {row['% of peak']:9.1f} {min(share):6.1f}-{max(share):5.1f}")


if __name__ == "__main__":
    try:
        main()
    except HipartError as exc:
        raise SystemExit(f"error: {exc}")

"""How far a preset's lifters are from converged: each input trained with the preset's epochs and with FACTOR times
as many (the warm-up stretched by the same factor, so the schedule keeps its shape), on the same data and run.

    python benchmarks/lifter_convergence.py --config demo --data data/default-demo --run runs/demo \\
        [--input sparse --input gt-hier --input hier] [--factor 3] [--out runs/convergence] [--force]

A converged preset has its lifters within about 10 % of what the same architecture reaches with 3x the
epochs, i.e. preset / longer <= 1.1. Prints, per input, test MPJPE / P-MPJPE and the final training MPJPE of both
runs and the ratio of their test MPJPE; the curves are each run's ``metrics.csv``. Runs are resumed: a finished one
returns its summary, an interrupted one continues, so a second call only prints; a checkpoint in --out made with
other lifter settings is refused (use another --out, or --force to retrain). Costs on 2 CPU cores with the demo
preset: sparse 2.4 s an epoch on one thread, hier and gt-hier 17-24 s on two.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pandas as pd

from hipart.bench.common import markdown
from hipart.config import load_config
from hipart.errors import HipartError
from hipart.pipeline import train_lifter_in


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="demo", help="preset or YAML whose lifter settings are tested")
    ap.add_argument("--data", required=True, type=Path, help="dataset folder (hipart data build)")
    ap.add_argument("--run", type=Path, default=None, help="run with msst/ and hiarm/ (needed for --input hier)")
    ap.add_argument("--input", action="append", choices=("sparse", "gt-hier", "hier"),
                    help="lifter input (repeatable; default sparse)")
    ap.add_argument("--factor", type=int, default=3, help="how many times the preset's epochs the longer run gets")
    ap.add_argument("--out", type=Path, default=Path("runs/convergence"))
    ap.add_argument("--force", action="store_true", help="retrain runs already in --out")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    args = ap.parse_args()
    if args.factor < 2:
        ap.error("--factor must be at least 2")
    base = load_config(args.config)
    rows = []
    for mode in args.input or ["sparse"]:
        for factor in (1, args.factor):
            lifter = dataclasses.replace(base.lifter, input=mode, epochs=base.lifter.epochs * factor,
                                         warmup_iters=base.lifter.warmup_iters * factor)
            cfg = dataclasses.replace(base, lifter=lifter)
            out = args.out / f"lifter_{mode}_x{factor}"
            test = train_lifter_in(cfg, args.data, out, args.run, args.force, not args.quiet)["test"]
            curve = pd.read_csv(out / "metrics.csv")  # loss: the epoch's training MPJPE
            rows.append({"input": mode, "epochs": lifter.epochs, "test MPJPE": test["mpjpe"],
                         "test P-MPJPE": test["p_mpjpe"], "train MPJPE": curve["loss"].iloc[-1]})
        rows[-1]["preset / longer"] = rows[-2]["test MPJPE"] / rows[-1]["test MPJPE"]
    table = pd.DataFrame(rows).set_index("input")
    print(f"\nLifter convergence, {base.name} preset, factor {args.factor} (test split, mm):")
    print(markdown(table, floatfmt=".2f"))


if __name__ == "__main__":
    try:
        main()
    except HipartError as exc:
        raise SystemExit(f"error: {exc}")

"""The lifter's design choices, measured: each variant of the lifter trained on the same data with the same budget
(the preset's epochs, batch and schedule) for each input, test and train MPJPE side by side.

    python benchmarks/lifter_design.py --config demo --data data/default-demo [--run runs/demo] \\
        [--input sparse --input gt-hier --input hier] [--variant NAME ...] [--out runs/lifter_design] [--force]

Variants (``--variant``, repeatable; default: all). The first eight add one choice at a time, from the plain
spatial transformer the toolkit had before to the preset's lifter; the rest undo or change one choice of the preset:

- ``screen``: screen-normalized positions, one shared embedding, 161 joint tokens, each sparse joint read from its
  own token, no input noise, greedy HiARM levels for the hier lifter;
- ``relative``: + positions relative to the root and to each joint's anchor, standardized per joint;
- ``joint-embedding``: + one patch-embedding map per joint;
- ``all-readout``: + the 3D pose read from all output tokens (still one token per joint: the paper's 161);
- ``parts``: + one token per body part (17 tokens);
- ``sparse+parts``: sparse joints on their own tokens beside the body-part tokens (34);
- ``noise``: + 0.5 px of Gaussian input noise in training;
- ``preset``: + the hier lifter trained on sampled HiARM levels: the preset's lifter as it is;
- ``no-standardize``, ``absolute``, ``sparse-readout``, ``joints``: the preset with one choice undone;
- ``noise-1px``, ``wide`` (twice the width), ``deep`` (one block more), ``dropout`` (0.1), ``weight-decay`` (0.05).

``hier`` needs a run with trained msst/ and hiarm/ (``--run``). Runs are resumed and skipped when finished (a
second call only prints); a checkpoint in --out made with other settings is refused (another --out, or --force).
Prints the table and writes it to OUT/lifter_design.csv.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import pandas as pd

from hipart.bench.common import markdown
from hipart.config import Config, load_config
from hipart.errors import HipartError
from hipart.io import atomic_path
from hipart.pipeline import train_lifter_in

SCREEN = {"features": "absolute", "standardize": False, "embedding": "shared", "tokens": "joints",
          "readout": "sparse", "input_noise_px": 0.0, "hier_levels": "greedy"}
VARIANTS: dict[str, dict[str, Any]] = {
    "screen": SCREEN,
    "relative": {**SCREEN, "features": "relative", "standardize": True},
    "joint-embedding": {**SCREEN, "features": "relative", "standardize": True, "embedding": "joint"},
    "all-readout": {"tokens": "joints", "input_noise_px": 0.0, "hier_levels": "greedy"},
    "parts": {"tokens": "parts", "input_noise_px": 0.0, "hier_levels": "greedy"},
    "sparse+parts": {"input_noise_px": 0.0, "hier_levels": "greedy"},
    "noise": {"hier_levels": "greedy"},
    "preset": {},
    "no-standardize": {"standardize": False},
    "absolute": {"features": "absolute"},
    "sparse-readout": {"readout": "sparse"},
    "joints": {"tokens": "joints"},
    "noise-1px": {"input_noise_px": 1.0},
    "wide": {"dim": "2x"},
    "deep": {"depth": "+1"},
    "dropout": {"dropout": 0.1},
    "weight-decay": {"weight_decay": 0.05},
}


def variant_config(base: Config, name: str, mode: str) -> Config:
    changes = dict(VARIANTS[name])
    if changes.get("dim") == "2x":
        changes["dim"] = 2 * base.lifter.dim
    if changes.get("depth") == "+1":
        changes["depth"] = base.lifter.depth + 1
    return dataclasses.replace(base, lifter=dataclasses.replace(base.lifter, input=mode, **changes))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="demo", help="preset or YAML whose lifter is varied")
    ap.add_argument("--data", required=True, type=Path, help="dataset folder (hipart data build)")
    ap.add_argument("--run", type=Path, default=None, help="run with msst/ and hiarm/ (needed for --input hier)")
    ap.add_argument("--input", action="append", choices=("sparse", "gt-hier", "hier"),
                    help="lifter input (repeatable; default sparse and gt-hier)")
    ap.add_argument("--variant", action="append", choices=tuple(VARIANTS), help="variant (repeatable; default all)")
    ap.add_argument("--out", type=Path, default=Path("runs/lifter_design"))
    ap.add_argument("--force", action="store_true", help="retrain runs already in --out")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    args = ap.parse_args()
    base = load_config(args.config)
    modes = args.input or ["sparse", "gt-hier"]
    rows = []
    for name in args.variant or VARIANTS:
        row: dict[str, Any] = {"variant": name}
        for mode in modes:
            cfg = variant_config(base, name, mode)
            out = args.out / name / f"lifter_{mode}"
            summary = train_lifter_in(cfg, args.data, out, args.run, args.force, not args.quiet)
            row[f"{mode} test"] = summary["test"]["mpjpe"]
            row[f"{mode} train"] = summary["train"]["mpjpe"]
            row[f"{mode} params"] = summary["complexity"]["params"]
            row[f"{mode} s/epoch"] = pd.read_csv(out / "metrics.csv")["seconds"].mean()
        if "sparse" in modes:
            for mode in ("gt-hier", "hier"):
                if mode in modes:
                    row[f"{mode} vs sparse (%)"] = 100.0 * (row[f"{mode} test"] / row["sparse test"] - 1.0)
        rows.append(row)
        table = pd.DataFrame(rows).set_index("variant")
        with atomic_path(args.out / "lifter_design.csv") as tmp:
            table.to_csv(tmp)
    print(f"\nLifter design, {base.name} preset, {args.data} (MPJPE in mm; train: eval mode on up to 6,000 "
          "training frames):")
    print(markdown(table, floatfmt=".1f"))


if __name__ == "__main__":
    try:
        main()
    except HipartError as exc:
        raise SystemExit(f"error: {exc}")

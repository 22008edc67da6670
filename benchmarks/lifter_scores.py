"""Trained lifters scored again on their dataset's test split: MPJPE, N-MPJPE (after the least-squares scale alone)
and P-MPJPE (after a similarity transform), averaged over actions, with the share of MPJPE that a scale removes.
For lifter folders trained before ``eval.csv`` held N-MPJPE, and to compare scale errors across runs.

    python benchmarks/lifter_scores.py --data data/default-bench runs/bench/lifter_sparse runs/bench/lifter_gt-hier

A ``hier`` lifter reads HiPART's levels from its run (the folder above the lifter's), cached in its stage folder.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from hipart.errors import HipartError
from hipart.models.lifter import Lifter
from hipart.runs import RunLayout, StageDir
from hipart.training.inputs import split_frames
from hipart.training.lifter import evaluate_lifter, lifter_inputs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, type=Path, help="the lifters' dataset folder")
    ap.add_argument("lifters", nargs="+", type=Path, help="lifter stage folders (with checkpoint.pt)")
    args = ap.parse_args()
    try:
        for folder in args.lifters:
            print(score(folder, args.data))
    except HipartError as exc:
        raise SystemExit(f"error: {exc}")


def score(folder: Path, data_dir: Path) -> str:
    """One line: the lifter in ``folder`` scored on the test split of ``data_dir``."""
    stage = StageDir(folder)
    model, ckpt = Lifter.load(stage.checkpoint)
    keypoints = "gt" if ckpt["input"] == "gt-hier" else ckpt["config"].get("keypoints", "gt")
    frames = split_frames(data_dir, "test", keypoints, log=lambda _: None)
    data = lifter_inputs(ckpt["input"], frames, "test", RunLayout(folder.parent), stage, torch.device("cpu"),
                         log=lambda _: None)
    avg = evaluate_lifter(model, data).loc["Average"]
    return (f"{folder}: {ckpt['input']}, MPJPE {avg['MPJPE']:.2f}, N-MPJPE {avg['N-MPJPE']:.2f}, "
            f"P-MPJPE {avg['P-MPJPE']:.2f} mm; a scale removes {avg['MPJPE'] - avg['N-MPJPE']:.2f} mm")


if __name__ == "__main__":
    main()

"""How much the embedded capture's limbs and torso turn about their own axes, per action family.

    python benchmarks/motion_rotations.py [--frames 1000] [--seed 0] [--csv out.csv]

For every subject, action and subaction of the default capture (motion only, nothing is posed) it takes the
standard deviation over the sequence (degrees) of each axial-rotation angle, and prints per action the mean of
those stds over the 14 sequences (7 subjects x 2 subactions) and, in brackets, the smallest. Left and right
limbs are pooled (28 sequences per action). A DOF the code does not have prints as '-'.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from hipart.body.motion import DOFS, generate_motion, motion_seed
from hipart.data.synthetic import SUBACTIONS, synthetic_subjects
from hipart.skeleton import H36M_ACTIONS

ROTATIONS = ("shoulder_rot", "hip_rot", "forearm_rot", "spine_twist", "neck_twist", "pelvis_twist")


def rotation_spread(frames: int, seed: int) -> pd.DataFrame:
    """Per action and rotation DOF: 'mean [min]' std in degrees over sequences (limbs pooled over sides)."""
    subjects = synthetic_subjects(seed)
    rows = {}
    for action in H36M_ACTIONS:
        stds: dict[str, list[float]] = {r: [] for r in ROTATIONS}
        for name, subject in subjects.items():
            for sub in SUBACTIONS:
                m = generate_motion(action, subject.style, frames, motion_seed(name, action, sub, seed))
                for r in ROTATIONS:
                    for dof in (r,) if r in DOFS else (f"{r}_L", f"{r}_R"):
                        if dof in m.angles:
                            stds[r].append(float(np.std(m.angles[dof])))
        rows[action] = {r: f"{np.mean(v):5.1f} [{np.min(v):4.1f}]" if v else "-" for r, v in stds.items()}
    return pd.DataFrame.from_dict(rows, orient="index")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=1000, help="frames per sequence (50 fps)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the synthetic subjects and motion")
    ap.add_argument("--csv", default=None, help="also write the table here")
    args = ap.parse_args()
    table = rotation_spread(args.frames, args.seed)
    with pd.option_context("display.width", 200):
        print(f"std over a sequence (deg), mean [min] over subjects x subactions x sides, {args.frames} frames")
        print(table.to_string())
    if args.csv:
        table.to_csv(args.csv)


if __name__ == "__main__":
    main()

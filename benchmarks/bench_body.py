"""Meshes per second of the body forward (full mesh, our torch skinning) at batch 1 and 256.

    python benchmarks/bench_body.py [--repeats 5] [--threads N]

Reports, for the embedded Anny body: bone transforms only, full forward (13,348 vertices + 17 joints), the same
through Anny's own dense-LBS forward, and the folded 161-row fast path that the dataset builder uses.
"""

from __future__ import annotations

import argparse

import numpy as np
import scipy.sparse
import torch
from _timing import median_time

from hipart.body.anny_body import AnnyBody
from hipart.body.lbs import axis_angle_to_matrix


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    body = AnnyBody()
    shape = {"gender": 0.2, "height": 0.45}
    skin = body.skinning(shape)
    V = body.num_vertices
    membership = np.empty(V, dtype=np.int64)
    membership[np.argsort(body.template_vertices()[:, 2], kind="stable")] = np.arange(V) * 144 // V
    A = scipy.sparse.csr_matrix((np.ones(V), (membership, np.arange(V))), shape=(144, body.num_points))
    folded = skin.fold(scipy.sparse.vstack([A, body.sparse_rows]).tocsr())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; Anny {V} vertices, {body.num_bones} bones; "
          f"skinning pairs: full {skin.num_pairs}, folded 161 rows {folded.num_pairs}")
    print(f"{'batch':>5} {'what':<34} {'ms/call':>9} {'meshes/s':>10}")
    for batch in (1, 256):
        g = torch.Generator().manual_seed(0)
        pose = body.identity_pose(batch)
        pose[:, 1:, :3, :3] = axis_angle_to_matrix(0.2 * torch.randn(batch, body.num_bones - 1, 3, generator=g,
                                                                       dtype=torch.float64))
        T, _ = body.transforms(shape, pose)
        metres = pose.clone()
        rows = {
            "bone transforms (FK)": lambda: body.transforms(shape, pose),
            "full forward (hipart skinning)": lambda: body.forward(shape, pose),
            "skinning only, full mesh": lambda: skin.apply(T),
            "skinning only, folded 161 rows": lambda: folded.apply(T),
            "Anny's own forward (dense LBS)": lambda: body.model(pose_parameters=metres, phenotype_kwargs=shape),
        }
        for name, fn in rows.items():
            with torch.no_grad():
                sec = median_time(fn, args.repeats)
            print(f"{batch:>5} {name:<34} {sec * 1e3:>9.2f} {batch / sec:>10.0f}")


if __name__ == "__main__":
    main()

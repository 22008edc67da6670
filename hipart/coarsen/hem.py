"""Heavy Edge Matching (HEM) graph coarsening to exact cluster counts, and the padded reference scheme.

One HEM round (Defferrard et al., NeurIPS 2016, as Pose2Mesh and HGN use it): visit the unmarked nodes in
ascending degree order (ties by index); match each with the unmarked neighbour maximising
``(2 W_ij + W_ii + W_jj) / (d_i + d_j)`` (ties by the smaller index); a node with no unmarked neighbour stays a
singleton. The coarse graph sums the edge weights between clusters (within-cluster weight lands on the
diagonal).

Exact mode reaches each requested count exactly: full rounds while a full round does not undershoot the target,
then one partial round keeping only the heaviest matches needed. Merging matched (adjacent) clusters keeps every
cluster a connected vertex set.

Balance. Plain HEM ('vertices' balance) halves vertex counts evenly, so a mesh whose vertex density is uneven
(a detailed face, fingers and toes) gets most clusters where its vertices are. The 'area' balance keeps the score
and the greedy rule but lets surface area decide which clusters may merge in a round: each vertex carries a third
of its triangles' areas, a cluster the sum of its vertices', and a pair may merge only if its merged area is at
most the round's cap. The cap starts at the smallest mergeable pair and doubles every round (as plain HEM's
cluster sizes do), never below the smallest mergeable pair, so every round merges something; dense regions thus
go through more rounds than sparse ones. Nodes are visited smallest area first (ties: degree, then index), and
the partial round keeps the matches of smallest merged area (ties: higher score, then visit order).

Compat mode ('pose2mesh') reproduces the reference implementations: a fixed number of full rounds, then every
level padded with fake nodes into a binary tree, so a level's padded size (e.g. 96) exceeds its real clusters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse
from scipy.sparse.csgraph import connected_components

from hipart.errors import HipartError

AREA_CAP_GROWTH = 2.0  # the area balance's merged-area cap grows by this factor per round


def check_faces(faces: np.ndarray, num_vertices: int) -> np.ndarray:
    """Faces as an int64 (F, 3) array of valid vertex indices, or a HipartError naming the problem."""
    faces = np.asarray(faces, dtype=np.int64)
    if faces.ndim != 2 or faces.shape[1] != 3 or len(faces) == 0:
        raise HipartError(f"mesh has faces of shape {faces.shape}; expected a non-empty (F, 3) triangle list")
    if faces.min() < 0 or faces.max() >= num_vertices:
        raise HipartError(f"mesh faces index vertices {faces.min()}..{faces.max()} but the mesh has {num_vertices} "
                          "vertices; the faces belong to another vertex list")
    return faces


def mesh_adjacency(faces: np.ndarray, num_vertices: int) -> scipy.sparse.csr_matrix:
    """Binary symmetric vertex adjacency from triangles (no self loops)."""
    faces = check_faces(faces, num_vertices)
    i = np.concatenate([faces[:, 0], faces[:, 1], faces[:, 2]])
    j = np.concatenate([faces[:, 1], faces[:, 2], faces[:, 0]])
    keep = i != j  # degenerate triangles repeat a vertex
    i, j = i[keep], j[keep]
    W = scipy.sparse.coo_matrix((np.ones(2 * len(i)), (np.concatenate([i, j]), np.concatenate([j, i]))),
                                shape=(num_vertices, num_vertices)).tocsr()
    W.data[:] = 1.0  # duplicates summed by tocsr become 1 again: binary weights
    return W


def vertex_areas(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 3) vertices, (F, 3) triangles -> (V,) surface area of each vertex: a third of each incident triangle's.

    The areas sum to the mesh's surface area; a vertex in no triangle carries none.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = check_faces(faces, len(vertices))
    a, b, c = vertices[faces[:, 0]], vertices[faces[:, 1]], vertices[faces[:, 2]]
    face_area = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
    return np.bincount(faces.ravel(), weights=np.repeat(face_area / 3.0, 3), minlength=len(vertices))


@dataclass(frozen=True)
class Matching:
    pairs: np.ndarray  # (P, 2) matched node pairs, in visit order
    scores: np.ndarray  # (P,) their HEM scores


def hem_matching(W: scipy.sparse.csr_matrix, areas: np.ndarray | None = None, cap: float = np.inf) -> Matching:
    """One greedy HEM round on a weighted graph (self loops allowed), deterministic.

    Without ``areas`` (n,) nodes are visited by ascending degree (ties by index). With them, only pairs whose
    merged area is at most ``cap`` may match, and nodes are visited by ascending area (ties: degree, index).
    """
    W = W.tocsr()
    n = W.shape[0]
    diag = W.diagonal()
    degree = np.asarray(W.sum(axis=1)).ravel()
    rows = np.repeat(np.arange(n), np.diff(W.indptr))
    cols, vals = W.indices, W.data
    off = rows != cols
    if areas is not None:
        off &= areas[rows] + areas[cols] <= cap
    rows, cols, vals = rows[off], cols[off], vals[off]
    score = (2 * vals + diag[rows] + diag[cols]) / (degree[rows] + degree[cols])
    # For each node, its neighbours by descending score, ties by index: one lexsort for the whole graph.
    order = np.lexsort((cols, -score, rows))
    rows, cols, score = rows[order], cols[order], score[order]
    starts = np.searchsorted(rows, np.arange(n + 1))
    cols_l, score_l = cols.tolist(), score.tolist()
    marked = bytearray(n)
    pairs, pair_scores = [], []
    visit = np.argsort(degree, kind="stable") if areas is None else np.lexsort((np.arange(n), degree, areas))
    for node in visit.tolist():
        if marked[node]:
            continue
        marked[node] = 1
        for k in range(starts[node], starts[node + 1]):
            other = cols_l[k]
            if not marked[other]:
                marked[other] = 1
                pairs.append((node, other))
                pair_scores.append(score_l[k])
                break
    return Matching(np.asarray(pairs, dtype=np.int64).reshape(-1, 2), np.asarray(pair_scores, dtype=np.float64))


def contract(W: scipy.sparse.csr_matrix, pairs: np.ndarray) -> tuple[scipy.sparse.csr_matrix, np.ndarray]:
    """Merge the given disjoint pairs; returns the coarse graph and each old node's new cluster id.

    New ids follow the smallest old node of each cluster, so they are deterministic.
    """
    n = W.shape[0]
    rep = np.arange(n)
    smaller = np.minimum(pairs[:, 0], pairs[:, 1])
    rep[pairs[:, 0]] = smaller
    rep[pairs[:, 1]] = smaller
    uniq, cluster = np.unique(rep, return_inverse=True)
    P = scipy.sparse.csr_matrix((np.ones(n), (cluster, np.arange(n))), shape=(len(uniq), n))
    return (P @ W @ P.T).tocsr(), cluster


def smallest_merge(W: scipy.sparse.csr_matrix, areas: np.ndarray) -> float:
    """The smallest merged area of two adjacent nodes (inf when no two nodes are adjacent)."""
    coo = W.tocoo()
    off = coo.row != coo.col
    return float((areas[coo.row[off]] + areas[coo.col[off]]).min()) if off.any() else np.inf


def coarsen_exact(W: scipy.sparse.csr_matrix, targets: tuple[int, ...], areas: np.ndarray | None = None
                  ) -> list[np.ndarray]:
    """Cluster id of every original node at each target level (exact counts, nested levels).

    ``areas`` (n,) switches on the area balance (module docstring); without it this is plain HEM.
    """
    n0 = W.shape[0]
    if any(t > n0 for t in targets):
        raise HipartError(f"target {max(targets)} joints exceeds the mesh's {n0} vertices; use fewer joints")
    if areas is not None:
        areas = np.asarray(areas, dtype=np.float64)
        if areas.shape != (n0,) or not np.isfinite(areas).all() or (areas < 0).any():
            raise HipartError(f"vertex areas have shape {areas.shape}; expected finite non-negative ({n0},) values")
    membership = np.arange(n0)
    cap = 0.0
    out = []
    for target in targets:
        while W.shape[0] > target:
            if areas is not None:
                cap = max(AREA_CAP_GROWTH * cap, smallest_merge(W, areas))
            match = hem_matching(W, areas, cap)
            needed = W.shape[0] - target
            if len(match.pairs) == 0:
                ncomp = connected_components(W, directed=False)[0]
                raise HipartError(f"cannot coarsen to {target} clusters: the mesh graph has {ncomp} connected "
                                  "components; merge or remove the loose parts, or ask for at least that many joints")
            pairs = match.pairs
            if len(pairs) > needed:
                if areas is None:  # partial round: only the heaviest matches (ties: earlier in visit order)
                    keep = np.argsort(-match.scores, kind="stable")[:needed]
                else:  # only the smallest merged areas (ties: heavier, then earlier in visit order)
                    keep = np.lexsort((-match.scores, areas[pairs[:, 0]] + areas[pairs[:, 1]]))[:needed]
                pairs = pairs[np.sort(keep)]
            W, cluster = contract(W, pairs)
            membership = cluster[membership]
            if areas is not None:
                areas = np.bincount(cluster, weights=areas, minlength=W.shape[0])
        out.append(membership.copy())
    return out


def binary_tree_perm(parents: list[np.ndarray]) -> list[list[int]]:
    """Defferrard's padding: per level, node order with fake nodes (ids >= real count) forming a binary tree."""
    indices = [list(range(int(parents[-1].max()) + 1))]
    for parent in parents[::-1]:
        pool = len(parent)
        children: dict[int, list[int]] = {}
        for node, p in enumerate(parent.tolist()):
            children.setdefault(p, []).append(node)
        layer = []
        for i in indices[-1]:
            nodes = list(children.get(i, []))
            while len(nodes) < 2:  # a singleton gets one fake sibling; a fake parent two fake children
                nodes.append(pool)
                pool += 1
            layer.extend(nodes)
        indices.append(layer)
    return indices[::-1]


@dataclass(frozen=True)
class CompatLevel:
    level: int  # number of HEM rounds from the mesh
    padded_size: int
    real_clusters: int
    membership: np.ndarray  # (V,) cluster id per vertex (real clusters only)


def coarsen_pose2mesh(W: scipy.sparse.csr_matrix, targets: tuple[int, ...], rounds: int = 9) -> list[CompatLevel]:
    """The padded reference scheme: `rounds` full HEM rounds; for each target the level whose padded size is
    closest to it (an exact padded match for SMPL with Pose2Mesh's 9 rounds)."""
    parents, memberships = [], []
    membership = np.arange(W.shape[0])
    for _ in range(rounds):
        match = hem_matching(W)
        W, cluster = contract(W, match.pairs)
        parents.append(cluster)
        membership = cluster[membership]
        memberships.append(membership.copy())
    padded = [len(layer) for layer in binary_tree_perm(parents)]  # padded[0] is the padded mesh level
    levels = []
    for target in targets:
        k = min(range(1, rounds + 1), key=lambda lv: (abs(padded[lv] - target), -padded[lv]))
        m = memberships[k - 1]
        levels.append(CompatLevel(k, padded[k], int(m.max()) + 1, m))
    return levels

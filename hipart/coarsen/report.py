"""Human-readable views of a hierarchy: the summary table, how evenly it covers the body, and the cluster plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hipart.coarsen.hem import vertex_areas
from hipart.coarsen.hierarchy import HEAD_HANDS_FEET, Hierarchy, area_cv, head_hands_feet_share
from hipart.io import atomic_path
from hipart.skeleton import H36M


def level_names(hier: Hierarchy) -> list[str]:
    """'fine' and 'dense' for the usual two levels, else L0, L1, ... (finest first)."""
    return ["fine", "dense"] if len(hier.levels) == 2 else [f"L{i}" for i in range(len(hier.levels))]


def balance_statistics(hier: Hierarchy, vertices: np.ndarray, faces: np.ndarray) -> dict[str, Any]:
    """How evenly each level covers the template surface (vertices (V, 3), faces (F, 3): the hierarchy's mesh).

    Returns ``{"balance": str, "levels": [...]}`` with one dict per level (finest first): ``name``, ``clusters``,
    ``min_size`` / ``max_size`` (vertices per cluster), ``area_cv`` (std / mean of the cluster surface areas),
    ``area_max_over_min``, and when the clusters carry part labels ``joints_per_part`` ({H36M joint name: count},
    all 17) and ``head_hands_feet_share`` (share of clusters labelled Head, Nose, LWrist, RWrist, LAnkle, RAnkle).
    """
    hier.check_mesh(faces, len(vertices))
    areas = vertex_areas(vertices, faces)
    levels = []
    for name, m, k, parts in zip(level_names(hier), hier.memberships, hier.levels, hier.parts):
        sizes = np.bincount(m, minlength=k)
        cluster_area = np.bincount(m, weights=areas, minlength=k)
        level: dict[str, Any] = {"name": name, "clusters": int(k), "min_size": int(sizes.min()),
                                 "max_size": int(sizes.max()), "area_cv": area_cv(m, areas),
                                 "area_max_over_min": float(cluster_area.max() / max(cluster_area.min(), 1e-300))}
        if (parts >= 0).all():
            counts = np.bincount(parts, minlength=H36M.num_joints)
            level["joints_per_part"] = dict(zip(H36M.names, counts.tolist()))
            level["head_hands_feet_share"] = head_hands_feet_share(parts)
        levels.append(level)
    return {"balance": hier.settings.get("balance", "vertices"), "levels": levels}


def parts_table(stats: dict[str, Any]) -> pd.DataFrame:
    """Joints per part (rows: the 17 H36M parts, head/hands/feet marked *) by level (columns)."""
    columns = {lv["name"]: lv["joints_per_part"] for lv in stats["levels"] if "joints_per_part" in lv}
    table = pd.DataFrame(columns, index=list(H36M.names))
    table.index = [f"{n} *" if j in HEAD_HANDS_FEET else n for j, n in enumerate(H36M.names)]
    table.index.name = "part"
    return table


def summary_table(hier: Hierarchy, stats: dict[str, Any] | None = None) -> pd.DataFrame:
    """One row per level from the hierarchy's own summary (the same figures as its JSON file), plus the
    surface-area CV and the head+hands+feet share when ``stats`` (from balance_statistics) is given."""
    rows = []
    padded = hier.settings.get("padded_sizes")
    for i, (name, level) in enumerate(zip(level_names(hier), hier.summary()["levels"])):
        row = {"level": name, "clusters": level["clusters"], "mean size": level["mean_size"],
               "max size": level["max_size"], "min size": level["min_size"], "size std": level["size_std"]}
        if padded:
            row["padded size"] = padded[i]
        if stats is not None:
            row["area CV"] = round(stats["levels"][i]["area_cv"], 3)
            if "head_hands_feet_share" in stats["levels"][i]:
                row["head+hands+feet"] = f"{stats['levels'][i]['head_hands_feet_share']:.1%}"
        rows.append(row)
    return pd.DataFrame(rows).set_index("level")


def body_views(vertices: np.ndarray) -> tuple[tuple[str, int, int], ...]:
    """(title, horizontal axis, vertical axis) of the front, side and top views of a standing body.

    Up is the axis of largest extent (y for SMPL, z for Anny), left-right the larger of the other two.
    """
    extent = np.ptp(vertices, axis=0)
    up = int(np.argmax(extent))
    lateral, depth = sorted((a for a in range(3) if a != up), key=lambda a: (-extent[a], a))
    xyz = "xyz"
    return ((f"front ({xyz[lateral]}, {xyz[up]})", lateral, up), (f"side ({xyz[depth]}, {xyz[up]})", depth, up),
            (f"top ({xyz[lateral]}, {xyz[depth]})", lateral, depth))


def plot_clusters(hier: Hierarchy, vertices: np.ndarray, path: str | Path, faces: np.ndarray | None = None) -> Path:
    """Template vertices coloured by cluster, one row per level, three orthographic views.

    With ``faces`` each row adds the clusters per part (head, hands and feet in red) and the histogram of
    cluster surface areas over their mean, titled with the head+hands+feet share and the area CV.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    views = body_views(vertices)
    stats = None if faces is None else balance_statistics(hier, vertices, faces)
    areas = None if faces is None else vertex_areas(vertices, faces)
    ncols = 3 if stats is None else 5
    fig, axes = plt.subplots(len(hier.levels), ncols, figsize=(3.4 * ncols, 4 * len(hier.levels)), squeeze=False)
    rng = np.random.default_rng(0)
    for row, (m, k) in enumerate(zip(hier.memberships, hier.levels)):
        colours = rng.permutation(k)[m]  # shuffled ids so neighbouring clusters differ in colour
        for col, (title, a, b) in enumerate(views):
            ax = axes[row, col]
            ax.scatter(vertices[:, a], vertices[:, b], c=colours, cmap="tab20", s=1, linewidths=0)
            ax.set_aspect("equal")
            ax.set_axis_off()
            ax.set_title(f"{k} clusters, {title}", fontsize=9)
        if stats is None:
            continue
        level = stats["levels"][row]
        ax = axes[row, 3]
        if "joints_per_part" in level:
            counts = list(level["joints_per_part"].values())
            colour = ["tab:red" if j in HEAD_HANDS_FEET else "tab:blue" for j in range(len(counts))]
            ax.barh(np.arange(len(counts)), counts, color=colour)
            ax.set_yticks(np.arange(len(counts)), H36M.names, fontsize=7)
            ax.invert_yaxis()
            ax.set_title(f"clusters per part (head+hands+feet {level['head_hands_feet_share']:.0%})", fontsize=9)
        else:
            ax.set_axis_off()
            ax.set_title("no part labels", fontsize=9)
        cluster_area = np.bincount(m, weights=areas, minlength=k)
        ax = axes[row, 4]
        ax.hist(cluster_area / cluster_area.mean(), bins=20, color="tab:gray")
        ax.set_xlabel("cluster area / mean", fontsize=8)
        ax.set_title(f"cluster areas (CV {level['area_cv']:.2f}, {stats['balance']} balance)", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return path

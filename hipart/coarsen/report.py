"""Human-readable views of a hierarchy: the summary table and the cluster plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hipart.coarsen.hierarchy import Hierarchy
from hipart.io import atomic_path


def summary_table(hier: Hierarchy) -> pd.DataFrame:
    rows = []
    padded = hier.settings.get("padded_sizes")
    for i, (m, k) in enumerate(zip(hier.memberships, hier.levels)):
        sizes = np.bincount(m, minlength=k)
        row = {"level": ("fine", "dense")[i] if len(hier.levels) == 2 else f"L{i}", "clusters": k,
               "mean size": round(float(sizes.mean()), 1), "max size": int(sizes.max()),
               "min size": int(sizes.min()), "size std": round(float(sizes.std()), 1)}
        if padded:
            row["padded size"] = padded[i]
        rows.append(row)
    return pd.DataFrame(rows).set_index("level")


def plot_clusters(hier: Hierarchy, vertices: np.ndarray, path: str | Path) -> Path:
    """Template vertices coloured by cluster, one row per level, three orthographic views."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    views = (("front (x, y)", 0, 1), ("side (z, y)", 2, 1), ("top (x, z)", 0, 2))
    fig, axes = plt.subplots(len(hier.levels), 3, figsize=(10, 4 * len(hier.levels)), squeeze=False)
    rng = np.random.default_rng(0)
    for row, (m, k) in enumerate(zip(hier.memberships, hier.levels)):
        colours = rng.permutation(k)[m]  # shuffled ids so neighbouring clusters differ in colour
        for col, (title, a, b) in enumerate(views):
            ax = axes[row, col]
            ax.scatter(vertices[:, a], vertices[:, b], c=colours, cmap="tab20", s=1, linewidths=0)
            ax.set_aspect("equal")
            ax.set_axis_off()
            ax.set_title(f"{k} clusters, {title}", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return path

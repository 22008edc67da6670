"""Human-readable views of a hierarchy: the summary table and the cluster plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hipart.coarsen.hierarchy import Hierarchy
from hipart.io import atomic_path


def summary_table(hier: Hierarchy) -> pd.DataFrame:
    """One row per level from the hierarchy's own summary (the same figures as its JSON file)."""
    rows = []
    padded = hier.settings.get("padded_sizes")
    for i, level in enumerate(hier.summary()["levels"]):
        row = {"level": ("fine", "dense")[i] if len(hier.levels) == 2 else f"L{i}", "clusters": level["clusters"],
               "mean size": level["mean_size"], "max size": level["max_size"], "min size": level["min_size"],
               "size std": level["size_std"]}
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

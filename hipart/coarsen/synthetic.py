"""Synthetic meshes with known structure, for tests and benchmarks (no licensed mesh needed)."""

from __future__ import annotations

import numpy as np


def grid_mesh(nx: int, ny: int) -> tuple[np.ndarray, np.ndarray]:
    """A flat nx x ny vertex grid, two triangles per cell; 106 x 65 gives SMPL's 6890 vertices."""
    xs, ys = np.meshgrid(np.arange(nx, dtype=float), np.arange(ny, dtype=float), indexing="ij")
    verts = np.stack([xs.ravel(), ys.ravel(), np.zeros(nx * ny)], axis=1)
    idx = np.arange(nx * ny).reshape(nx, ny)
    a, b, c, d = idx[:-1, :-1].ravel(), idx[1:, :-1].ravel(), idx[:-1, 1:].ravel(), idx[1:, 1:].ravel()
    return verts, np.concatenate([np.stack([a, b, d], 1), np.stack([a, d, c], 1)])

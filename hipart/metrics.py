"""Pose metrics: MPJPE (Protocol 1), P-MPJPE (Protocol 2), N-MPJPE, 2D mean error, PCK, per-action tables.

Every per-frame function takes predictions and ground truth of shape (..., J, D) (D = 2 or 3), torch or numpy,
and returns one value per frame (shape (...)) of the same array type; ``reduce`` gives the mean instead.
Units are whatever the inputs use (mm for 3D, px for 2D in hipart).
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from hipart.errors import HipartError

Array = np.ndarray | torch.Tensor


def _pair(pred: Array, gt: Array) -> tuple[torch.Tensor, torch.Tensor, bool]:
    was_numpy = not isinstance(pred, torch.Tensor)
    p = torch.as_tensor(np.asarray(pred)) if was_numpy else pred
    g = torch.as_tensor(np.asarray(gt)) if not isinstance(gt, torch.Tensor) else gt
    if p.shape != g.shape:
        raise HipartError(f"prediction shape {tuple(p.shape)} differs from ground truth shape {tuple(g.shape)}")
    if p.dim() < 2:
        raise HipartError(f"poses must have shape (..., joints, dims), got {tuple(p.shape)}")
    dtype = torch.promote_types(p.dtype, g.dtype)
    if not dtype.is_floating_point:
        dtype = torch.float64
    return p.to(dtype), g.to(dtype=dtype, device=p.device), was_numpy


def _out(x: torch.Tensor, was_numpy: bool, reduce: bool) -> Array | float:
    if reduce:
        return float(x.mean())
    return x.detach().cpu().numpy() if was_numpy else x


def mpjpe(pred: Array, gt: Array, reduce: bool = False) -> Array | float:
    """Mean per-joint position error (Euclidean), per frame."""
    p, g, np_in = _pair(pred, gt)
    return _out((p - g).norm(dim=-1).mean(dim=-1), np_in, reduce)


def mean_error_2d(pred: Array, gt: Array, reduce: bool = False) -> Array | float:
    """Mean 2D keypoint distance (px) per frame; the same formula as MPJPE on 2D points."""
    return mpjpe(pred, gt, reduce)


def procrustes_align(pred: torch.Tensor, gt: torch.Tensor, scale: bool = True) -> torch.Tensor:
    """Align pred to gt per frame with the optimal similarity transform (rotation, translation, optional scale)."""
    mu_p, mu_g = pred.mean(dim=-2, keepdim=True), gt.mean(dim=-2, keepdim=True)
    p0, g0 = pred - mu_p, gt - mu_g
    norm_p = p0.norm(dim=(-2, -1), keepdim=True).clamp_min(1e-12)
    norm_g = g0.norm(dim=(-2, -1), keepdim=True).clamp_min(1e-12)
    p0, g0 = p0 / norm_p, g0 / norm_g
    # H = p0^T g0; R maps pred onto gt; a reflection is undone by flipping the last singular direction.
    U, S, Vh = torch.linalg.svd(p0.transpose(-1, -2) @ g0)
    d = torch.sign(torch.linalg.det(U @ Vh))
    flip = torch.ones_like(S)
    flip[..., -1] = d
    R = U @ torch.diag_embed(flip) @ Vh
    trace = (S * flip).sum(dim=-1, keepdim=True).unsqueeze(-1)
    s = trace * norm_g / norm_p if scale else torch.ones_like(trace)
    return s * (pred - mu_p) @ R + mu_g


def p_mpjpe(pred: Array, gt: Array, reduce: bool = False) -> Array | float:
    """MPJPE after Procrustes alignment with scale (Protocol 2)."""
    p, g, np_in = _pair(pred, gt)
    return _out((procrustes_align(p, g) - g).norm(dim=-1).mean(dim=-1), np_in, reduce)


def n_mpjpe(pred: Array, gt: Array, reduce: bool = False) -> Array | float:
    """MPJPE after the least-squares scale of pred to gt, per frame (no rotation or translation)."""
    p, g, np_in = _pair(pred, gt)
    s = (p * g).sum(dim=(-2, -1), keepdim=True) / (p * p).sum(dim=(-2, -1), keepdim=True).clamp_min(1e-12)
    return _out((s * p - g).norm(dim=-1).mean(dim=-1), np_in, reduce)


def pck(pred: Array, gt: Array, threshold: float = 150.0, reduce: bool = False) -> Array | float:
    """Fraction of joints within `threshold` of the ground truth, per frame (150 mm is the usual 3D choice)."""
    p, g, np_in = _pair(pred, gt)
    return _out(((p - g).norm(dim=-1) <= threshold).to(p.dtype).mean(dim=-1), np_in, reduce)


METRICS: dict[str, Callable[..., Array | float]] = {
    "MPJPE": mpjpe,
    "P-MPJPE": p_mpjpe,
    "N-MPJPE": n_mpjpe,
    "PCK": pck,
    "2D error": mean_error_2d,
}


def per_action_table(per_frame: Mapping[str, Array], actions: Sequence[str] | np.ndarray,
                     average_label: str = "Average") -> pd.DataFrame:
    """Per-action means of per-frame metrics, plus the mean over actions (the Human3.6M convention).

    `per_frame` maps a metric name to a per-frame vector; `actions` gives each frame's action. Rows: actions in
    sorted order then `average_label`; columns: the metrics, plus 'frames'. The average row is the unweighted mean
    of the action rows, so an action with many frames counts once.
    """
    actions = np.asarray(actions)
    columns = {}
    for name, values in per_frame.items():
        v = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
        if v.shape != actions.shape:
            raise HipartError(f"metric '{name}' has {v.shape} values for {actions.shape} action labels")
        columns[name] = v.astype(np.float64)
    frame = pd.DataFrame(columns)
    frame["action"] = actions
    table = frame.groupby("action", sort=True).mean()
    table["frames"] = frame.groupby("action", sort=True).size()
    average = table.drop(columns="frames").mean(axis=0)
    average["frames"] = len(frame)
    table.loc[average_label] = average
    table["frames"] = table["frames"].astype(int)
    table.index.name = "action"
    return table

"""``hipart bench codebook``: how the MSST's two codebooks are used and how alike their codes are (supplement Fig. 6).

Cosine similarity of ``codes`` codes drawn at random (fixed seed) within C_s, within C_d and across them; usage
of every code by the test split's clean fine poses (histograms), codes used and perplexity (exp of the entropy of
code use; the codebook size when use is uniform).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from hipart.bench.common import BenchRun, Results
from hipart.errors import HipartError
from hipart.training.baselines import BaselineContext


def cosine_matrix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T


def perplexity(counts: torch.Tensor) -> float:
    p = counts.double() / counts.sum().clamp_min(1)
    return float(torch.exp(-(p[p > 0] * p[p > 0].log()).sum()))


def off_diagonal_mean(m: torch.Tensor) -> float:
    if m.shape[0] != m.shape[1]:
        return float(m.mean())
    mask = ~torch.eye(len(m), dtype=torch.bool)
    return float(m[mask].mean())


def run_codebook(bench: BenchRun, out: str | Path, codes: int = 100, seed: int = 0,
                 device: torch.device = torch.device("cpu"), log: Callable[[str], None] = print) -> Results:
    if codes < 2:
        raise HipartError(f"--codes {codes}: need at least 2 codes to compare")
    ctx = BaselineContext(bench.cfg, bench.data_dir, bench.run, device, log=log)
    msst = ctx.msst()
    books = {"C_s": msst.Q_s.codebook.detach().float().cpu(), "C_d": msst.Q_d.codebook.detach().float().cpu()}
    g = torch.Generator().manual_seed(seed)
    picks = {k: v[torch.randperm(len(v), generator=g)[:min(codes, len(v))]] for k, v in books.items()}
    pairs = {"within C_s": ("C_s", "C_s"), "within C_d": ("C_d", "C_d"), "C_s vs C_d": ("C_s", "C_d")}
    sims = {name: cosine_matrix(picks[a], picks[b]) for name, (a, b) in pairs.items()}
    q_s, q_d = ctx.tokens("test")
    counts = {"C_s": torch.bincount(q_s.flatten(), minlength=len(books["C_s"])),
              "C_d": torch.bincount(q_d.flatten(), minlength=len(books["C_d"]))}
    rows = {}
    for name, (a, b) in pairs.items():
        m = sims[name]
        rows[name] = {"codes compared": len(m), "mean cosine": off_diagonal_mean(m),
                      "mean abs cosine": off_diagonal_mean(m.abs()), "max off-diagonal": float(
                          m.masked_fill(torch.eye(len(m), dtype=torch.bool), -2).max()) if a == b else float(m.max())}
    similarity = pd.DataFrame.from_dict(rows, orient="index")
    similarity.index.name = "pair"
    usage = pd.DataFrame.from_dict({k: {"size": len(books[k]), "codes used (test)": int((c > 0).sum()),
                              "perplexity (test)": perplexity(c), "tokens (test)": int(c.sum())}
                          for k, c in counts.items()}, orient="index")
    usage.index.name = "codebook"
    log(f"codebooks: {usage.to_dict('index')}")
    results = Results(out, "codebook", bench, {"codes": codes, "seed": seed})
    results.table(similarity, "similarity", f"Cosine similarity of {codes} random codes, {bench.data_label}", ".3f")
    results.table(usage, "usage", f"Codebook use on the test split, {bench.data_label}", ".1f")
    results.plot(_similarity_figure(sims), "similarity")
    results.plot(_usage_figure(counts), "usage")
    results.finish()
    return results


def _similarity_figure(sims: dict[str, torch.Tensor]) -> plt.Figure:
    fig, axes = plt.subplots(1, len(sims), figsize=(4.6 * len(sims), 4))
    for ax, (name, m) in zip(np.atleast_1d(axes), sims.items()):
        im = ax.imshow(m.numpy(), vmin=-1, vmax=1, cmap="coolwarm")
        ax.set_title(name)
        ax.set_xlabel("code")
        ax.set_ylabel("code")
    fig.colorbar(im, ax=list(np.atleast_1d(axes)), shrink=0.8, label="cosine similarity")
    return fig


def _usage_figure(counts: dict[str, torch.Tensor]) -> plt.Figure:
    fig, axes = plt.subplots(1, len(counts), figsize=(5.5 * len(counts), 3.5))
    for ax, (name, c) in zip(np.atleast_1d(axes), counts.items()):
        ordered = torch.sort(c, descending=True).values.numpy()
        ax.bar(np.arange(len(ordered)), ordered, width=1.0)
        ax.set_title(f"{name}: {(c > 0).sum().item()} of {len(c)} codes used, perplexity {perplexity(c):.1f}")
        ax.set_xlabel("code (sorted by use)")
        ax.set_ylabel("tokens on the test split")
    return fig

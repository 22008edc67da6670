"""``hipart bench ablation``: supplement Table 3's grid of L1 (MSST encoder blocks), L2 (GCSAB blocks), D1 and D2
(their widths) -> parameters (exact), FLOPs per frame (FlopCounterMode) and, unless ``--no-train``, MPJPE from a
full training of each setting; plus center-to-periphery vs raster part order and part-masked vs free token projection.

Parameters and FLOPs are those of inference from a sparse 2D pose: MSST (every module, as stored), HiARM greedy
decoding of all 17 parts with the key/value cache, the MSST decoders, and the hier lifter. Each trained setting is a
run folder under ``<results>/ablation/runs/<tag>`` made by ``train all`` with the chosen preset plus the setting, on
one shared dataset; finished settings are skipped when the bench is run again.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import torch

from hipart.bench import reference
from hipart.bench.common import Results
from hipart.coarsen.hierarchy import Hierarchy
from hipart.config import Config, load_config
from hipart.data.build import MANIFEST
from hipart.data.dataset import PoseDataset
from hipart.data.levels import input_joints, stacked_parts
from hipart.data.prepare import default_out
from hipart.errors import HipartError
from hipart.models.complexity import count_params_flops
from hipart.models.hiarm import HiARM
from hipart.models.hipart import HiPART
from hipart.models.lifter import Lifter, joint_anchors
from hipart.pipeline import train_all
from hipart.skeleton import H36M
from hipart.training.msst import build_msst

GRID = ((2, 6, 128, 128), (3, 8, 128, 128), (4, 12, 128, 128), (5, 16, 128, 128), (4, 12, 96, 96),
        (4, 12, 256, 256))


@dataclasses.dataclass(frozen=True)
class Setting:
    tag: str
    overrides: dict[str, dict[str, Any]]
    L1: int | None = None
    L2: int | None = None
    D1: int | None = None
    D2: int | None = None


def parse_setting(text: str) -> tuple[int, int, int, int]:
    """'L1,L2,D1,D2' -> four positive integers."""
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4 or min(values) < 1:
        raise HipartError(f"--setting '{text}': give four positive integers L1,L2,D1,D2, e.g. 4,12,128,128")
    return values  # type: ignore[return-value]


def settings(grid: tuple[tuple[int, int, int, int], ...] = GRID, variants: bool = True) -> list[Setting]:
    out = [Setting(f"L1-{a}_L2-{b}_D1-{c}_D2-{d}", {"msst": {"num_blocks": a, "dim": c},
                                                     "hiarm": {"num_blocks": b, "dim": d}}, a, b, c, d)
           for a, b, c, d in grid]
    if variants:
        out += [Setting("order-raster", {"hiarm": {"part_order": "raster"}}),
                Setting("projection-free", {"msst": {"part_masked": False}})]
    return out


def setting_config(base: str, s: Setting) -> Config:
    """The preset (or YAML file) ``base`` with the setting's overrides, named after both."""
    name = load_config(base).name
    return load_config(base, {**s.overrides, "name": f"{name}-{s.tag}"})


def complexity(cfg: Config, hierarchy: Hierarchy | None) -> dict[str, float]:
    """Parameters and FLOPs per frame of HiPART's inference (HiARM decoding, MSST decoders, hier lifter) built with
    ``cfg``'s architecture (untrained: the counts do not depend on the weights)."""
    torch.manual_seed(0)
    msst = build_msst(cfg, hierarchy).eval()
    m = msst.cfg
    hiarm = HiARM(cfg.hiarm, m.tokens_per_part, m.codebook_size_sparse, m.codebook_size_dense).eval()
    levels = {"s": H36M.num_joints, "d": msst.num_dense, "f": msst.num_fine}
    anchors = joint_anchors(input_joints("hier", levels), stacked_parts(hierarchy) if hierarchy is not None else None)
    lifter = Lifter(dataclasses.replace(cfg.lifter, input="hier"), anchors).eval()
    model = HiPART(msst, hiarm, lifter)
    x_s = torch.rand(1, H36M.num_joints, 2) * 500  # FLOPs do not depend on the values
    c = count_params_flops(model, (x_s, torch.tensor([1000.0, 1000.0])))
    parts = {name: sum(p.numel() for p in mod.parameters()) for name, mod in
             (("MSST", msst), ("HiARM", hiarm), ("lifter", lifter))}
    return {"Params (M)": c["params"] / 1e6, "FLOPs (G)": c["flops_per_item"] / 1e9,
            **{f"{k} params (M)": v / 1e6 for k, v in parts.items()}}


def run_ablation(out: str | Path, config: str = "paper", train_config: str = "demo", train: bool = True,
                 data_dir: str | Path | None = None, variants: bool = True,
                 grid: tuple[tuple[int, int, int, int], ...] = GRID, progress: bool = True,
                 log: Callable[[str], None] = print) -> Results:
    """Parameters and FLOPs at ``config`` (the paper preset by default, as Table 3); MPJPE from training each
    setting on top of ``train_config``."""
    train_base = load_config(train_config)
    data = Path(data_dir) if data_dir is not None else default_out(train_base)
    hierarchy = None
    if (data / MANIFEST).is_file():
        hierarchy = Hierarchy.load(PoseDataset(data, "test", fields=("x_s",), verify=False).hierarchy_path)
    rows = {}
    for s in settings(grid, variants):
        row: dict[str, Any] = {"L1": s.L1, "L2": s.L2, "D1": s.D1, "D2": s.D2}
        row.update(complexity(setting_config(config, s), hierarchy))
        if train:
            run = Path(out) / "ablation" / "runs" / s.tag
            log(f"ablation {s.tag}: training into {run}")
            summary = train_all(setting_config(train_config, s), data, run, progress=progress, log=log)
            row[f"MPJPE ({train_base.name})"] = float(summary.loc["Average", "MPJPE hier"])
        ref = reference.ABLATION.get((s.L1, s.L2, s.D1, s.D2)) if s.L1 else None
        row.update({"paper Params (M)": ref[0] if ref else None, "paper FLOPs (G)": ref[1] if ref else None,
                    "paper MPJPE": ref[2] if ref else None})
        rows[s.tag] = row
        log(f"{s.tag}: {row['Params (M)']:.2f} M parameters, {row['FLOPs (G)']:.3f} GFLOPs per frame")
    table = pd.DataFrame.from_dict(rows, orient="index").astype({k: "Int64" for k in ("L1", "L2", "D1", "D2")})
    table.index.name = "setting"
    results = Results(out, "ablation", None, {"config": config, "train_config": train_config, "train": train,
                                              "data": str(data), "grid": [list(g) for g in grid]})
    title = (f"Ablation: parameters and FLOPs per frame at the '{config}' preset"
             + (f"; MPJPE after training with '{train_config}' on {data}" if train else "")
             + f". 'paper' columns: {reference.SOURCE}")
    results.table(table, "ablation", title, ".3f")
    results.finish(["Parameters and FLOPs count MSST (all modules), HiARM and the hier lifter; the paper does not say "
                    "which modules its counts include, so compare trends, not absolute values.",
                    "L1 deepens only the MSST encoders, which inference from a 2D pose does not run: FLOPs per frame "
                    "do not depend on L1 here."])
    return results

"""``hipart bench all``: every benchmark on one trained run with its defaults, then the report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from hipart.bench.ablation import GRID, parse_setting, run_ablation
from hipart.bench.codebook import run_codebook
from hipart.bench.common import BenchRun
from hipart.bench.densify import run_densify
from hipart.bench.occlusion import CROP_SWEEP, MASK_SWEEP, run_occlusion
from hipart.bench.probe import run_probe
from hipart.bench.qualitative import run_qualitative
from hipart.bench.report import build_report
from hipart.bench.speed import run_speed


@dataclass(frozen=True)
class SuiteSettings:
    """What ``bench all`` runs; :meth:`quick` is a smoke run."""

    masks: tuple[float, ...] = MASK_SWEEP
    crops: tuple[float, ...] = CROP_SWEEP
    batches: tuple[int, ...] = (1, 256)
    frames: tuple[int, ...] = (1, 81, 243)
    repeats: int = 5
    ablation_grid: tuple[tuple[int, int, int, int], ...] = GRID
    ablation_variants: bool = True

    @classmethod
    def quick(cls) -> "SuiteSettings":
        return cls(masks=(0.4,), crops=(0.3,), batches=(1, 16), frames=(1, 9), repeats=2,
                   ablation_grid=(parse_setting("2,6,128,128"), parse_setting("4,12,128,128")),
                   ablation_variants=False)


def run_all(bench: BenchRun, out: str | Path, device: torch.device, settings: SuiteSettings = SuiteSettings(),
            train_ablation: bool = False, progress: bool = True, log: Callable[[str], None] = print
            ) -> tuple[Path, Path]:
    """Occlusion, speed, densify, the levels probe, codebook, qualitative and ablation (counts only unless
    ``train_ablation``; each setting trained with the run's own config) into ``out``, then ``report.md`` and
    ``report.html``."""
    steps: list[tuple[str, Callable[[], object]]] = [
        ("occlusion", lambda: run_occlusion(bench, out, settings.masks, settings.crops, device=device, log=log)),
        ("speed", lambda: run_speed(bench, out, settings.batches, settings.frames, settings.repeats, device, log)),
        ("densify", lambda: run_densify(bench, out, device, log)),
        ("probe", lambda: run_probe(bench.data_dir, out, bench, hipart_levels=True, device=device, log=log)),
        ("codebook", lambda: run_codebook(bench, out, device=device, log=log)),
        ("qualitative", lambda: run_qualitative(bench, out, device=device, log=log)),
        ("ablation", lambda: run_ablation(out, "paper", str(bench.config_path), train_ablation, bench.data_dir,
                                          settings.ablation_variants, settings.ablation_grid, progress, log)),
    ]
    for name, step in steps:
        log(f"=== bench {name} ===")
        step()
    return build_report(out)

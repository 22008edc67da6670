"""The one run layout: where ``hipart train all`` puts each stage and what a stage folder holds (the checkpoint
contract is in :mod:`hipart.checkpoints`).

Run folder (``runs/<config name>`` by default)::

    config.yaml                    the whole config of the run (a run trained stage by stage has none: its
                                   stages' own config.yaml stand in, HiARM's first)
    msst/ hiarm/                   stages 1 and 2
    lifter_hier/ lifter_sparse/ lifter_gt-hier/    stage 3, one folder per lifter input
    baseline_<name>/               one folder per trained baseline variant (hipart.models.baselines)
    summary.csv                    MPJPE / P-MPJPE per action of every lifter (and lifting baseline)
    densify_summary.csv            x_d / x_f error per action of the densification baselines
    results/<benchmark>/           hipart bench

Stage folder: ``checkpoint.pt``, ``config.yaml``, ``metrics.csv`` (one row per epoch), ``summary.json`` (once
finished), ``eval.csv`` (per-action scores of lifters and baselines) and the stage's caches.

"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hipart.errors import HipartError

CHECKPOINT = "checkpoint.pt"
CONFIG = "config.yaml"
METRICS = "metrics.csv"
SUMMARY = "summary.json"
EVAL = "eval.csv"
RESULTS = "results"
RUNS_ROOT = Path("runs")
DEMO_RUN = RUNS_ROOT / "demo"  # what `hipart demo` trains and every bench / predict command reads by default
LIFTER_INPUTS = ("hier", "sparse", "gt-hier")


@dataclass(frozen=True)
class StageDir:
    """One stage's folder and the files in it."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def checkpoint(self) -> Path:
        return self.path / CHECKPOINT

    @property
    def config(self) -> Path:
        return self.path / CONFIG

    @property
    def metrics(self) -> Path:
        return self.path / METRICS

    @property
    def summary(self) -> Path:
        return self.path / SUMMARY

    @property
    def eval(self) -> Path:
        return self.path / EVAL

    def file(self, name: str) -> Path:
        """A cache or other file of the stage (e.g. ``tokens_train.pt``)."""
        return self.path / name

    @property
    def trained(self) -> bool:
        """A finished training: checkpoint and summary both present."""
        return self.checkpoint.is_file() and self.summary.is_file()

    def read_summary(self) -> dict[str, Any]:
        return read_json(self.summary, f"retrain the stage ('hipart train ... --force --out {self.path}')")


@dataclass(frozen=True)
class RunLayout:
    """The folders of one run."""

    root: Path

    def __init__(self, root: str | Path) -> None:
        object.__setattr__(self, "root", Path(root))

    @classmethod
    def for_config(cls, config_name: str) -> "RunLayout":
        """The default run folder of a config: ``runs/<config name>``."""
        return cls(RUNS_ROOT / config_name)

    @property
    def config(self) -> Path:
        """Where ``hipart train all`` writes the run's config."""
        return self.root / CONFIG

    def config_file(self) -> Path | None:
        """The config that describes the run: its own ``config.yaml`` or, for a run whose stages were trained one by
        one (``hipart train hiarm --out RUN/hiarm``, ...), the first stage config found, HiARM's before MSST's
        and the lifters' (a stage saves the whole config it was trained with); None when there is neither."""
        candidates = [self.config, self.hiarm.config, self.msst.config,
                      *(self.lifter(mode).config for mode in LIFTER_INPUTS)]
        return next((path for path in candidates if path.is_file()), None)

    @property
    def msst(self) -> StageDir:
        return StageDir(self.root / "msst")

    @property
    def hiarm(self) -> StageDir:
        return StageDir(self.root / "hiarm")

    def lifter(self, mode: str) -> StageDir:
        if mode not in LIFTER_INPUTS:
            raise HipartError(f"unknown lifter input '{mode}'; use {', '.join(LIFTER_INPUTS)}")
        return StageDir(self.root / f"lifter_{mode}")

    def stage(self, folder_name: str) -> StageDir:
        """Any stage folder by name (``msst``, ``lifter_hier``, ``baseline_diffpose``, ...)."""
        return StageDir(self.root / folder_name)

    def baselines(self) -> list[StageDir]:
        return [StageDir(p) for p in sorted(self.root.glob("baseline_*")) if p.is_dir()]

    @property
    def summary_csv(self) -> Path:
        return self.root / "summary.csv"

    @property
    def densify_summary_csv(self) -> Path:
        return self.root / "densify_summary.csv"

    @property
    def results(self) -> Path:
        return self.root / RESULTS

    def recorded_data(self) -> Path:
        """The dataset the run's stages were trained on, as their summaries record it."""
        for stage in (self.msst, self.lifter("sparse"), self.lifter("hier"), *self.baselines()):
            if stage.summary.is_file():
                data = stage.read_summary().get("data")
                if data:
                    return Path(data)
        raise HipartError(f"{self.root}: no trained stage records its dataset; give it with --data")

    def require(self) -> "RunLayout":
        """This layout, or a one-line error when the folder is not a run."""
        if self.config_file() is None:
            raise HipartError(f"{self.root}: not a run folder (no {CONFIG}, no trained stage folder with one); train "
                              f"one with 'hipart train all --out {self.root}' or point --run at one")
        return self


def read_json(path: Path, fix: str) -> dict[str, Any]:
    """A JSON object from ``path``, or a one-line error naming the file and ``fix``."""
    if not path.is_file():
        raise HipartError(f"{path}: not found; {fix}")
    try:
        obj = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HipartError(f"{path}: unreadable ({type(exc).__name__}); {fix}") from None
    if not isinstance(obj, dict):
        raise HipartError(f"{path}: expected a JSON object, found {type(obj).__name__}; {fix}")
    return obj

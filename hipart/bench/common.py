"""What every benchmark shares: the run it reads, the results folder it writes, and how tables and plots are saved.

A benchmark writes into ``<results>/<name>/``: ``<table>.csv`` and ``<table>.md`` per table (pandas), PNG plots,
and ``meta.json`` with the settings, the run's config, the dataset manifest's sha256, the data label (default data
or the real source) and the git revision of the code that made them. ``hipart report`` reads these folders only.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from hipart import __version__  # noqa: E402
from hipart.config import Config, load_config  # noqa: E402
from hipart.data.build import MANIFEST  # noqa: E402
from hipart.data.dataset import load_manifest  # noqa: E402
from hipart.errors import HipartError  # noqa: E402
from hipart.io import atomic_path, file_sha256, write_json_atomic, write_text_atomic  # noqa: E402
from hipart.runs import RunLayout, StageDir  # noqa: E402

DEFAULT_DATA_LABEL = "embedded default data (Anny body, synthetic subjects and actions): not Human3.6M"


@dataclass
class BenchRun:
    """A trained run folder (``hipart train all``) and the dataset it was trained on."""

    layout: RunLayout
    data_dir: Path

    @classmethod
    def open(cls, run: str | Path, data_dir: str | Path | None = None) -> "BenchRun":
        layout = RunLayout(run).require()
        data_dir = Path(data_dir) if data_dir is not None else layout.recorded_data()
        if not (data_dir / MANIFEST).is_file():
            raise HipartError(f"{data_dir}: no dataset manifest; give the run's dataset with --data")
        return cls(layout, data_dir)

    @property
    def run(self) -> Path:
        return self.layout.root

    @property
    def config_path(self) -> Path:
        """The run's config file: its own, or a stage's for a run trained stage by stage (open() found one)."""
        path = self.layout.config_file()
        assert path is not None
        return path

    @cached_property
    def cfg(self) -> Config:
        return load_config(self.config_path)

    @cached_property
    def manifest(self) -> dict[str, Any]:
        return load_manifest(self.data_dir)

    @property
    def data_label(self) -> str:
        return data_label(self.manifest, self.data_dir)

    def trained(self, stage: StageDir) -> StageDir:
        """``stage`` when its checkpoint exists, or a one-line error saying how to train it."""
        if not stage.checkpoint.is_file():
            raise HipartError(f"{stage.checkpoint} not found; train it first ('hipart train all --out {self.run}')")
        return stage


def data_label(manifest: dict[str, Any], data_dir: Path) -> str:
    """What a dataset's numbers are made on, for table titles: the default data's caveat or the real source."""
    source = manifest.get("settings", {}).get("source", {})
    if source.get("kind", "default") == "default":
        return DEFAULT_DATA_LABEL
    return f"{source.get('kind')} data from {source.get('path', data_dir)}"


def git_revision() -> str:
    """The commit of the code that made the results (with '+dirty' for uncommitted changes), or 'unknown'."""
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True,
                             timeout=10)
        if rev.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return rev.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class Results:
    """One benchmark's output folder."""

    def __init__(self, root: str | Path, name: str, bench: BenchRun | None, settings: dict[str, Any]) -> None:
        self.folder = Path(root) / name
        self.folder.mkdir(parents=True, exist_ok=True)
        self.name, self.bench, self.settings = name, bench, settings
        self.files: list[str] = []

    def table(self, df: pd.DataFrame, stem: str, title: str, floatfmt: str = ".1f") -> Path:
        csv = self.folder / f"{stem}.csv"
        with atomic_path(csv) as tmp:
            df.to_csv(tmp)
        write_text_atomic(self.folder / f"{stem}.md", f"### {title}\n\n{markdown(df, floatfmt)}\n")
        self.files += [csv.name, f"{stem}.md"]
        return csv

    def json(self, obj: dict[str, Any], stem: str) -> Path:
        path = self.folder / f"{stem}.json"
        write_json_atomic(path, obj)
        self.files.append(path.name)
        return path

    def plot(self, fig: plt.Figure, stem: str) -> Path:
        path = self.folder / f"{stem}.png"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
        plt.close(fig)
        self.files.append(path.name)
        return path

    def finish(self, notes: list[str] | None = None) -> Path:
        meta: dict[str, Any] = {"benchmark": self.name, "settings": self.settings, "notes": notes or [],
                                "files": self.files, "git_revision": git_revision(), "hipart_version": __version__}
        if self.bench is not None:
            meta.update({"run": str(self.bench.run), "data": str(self.bench.data_dir),
                         "data_label": self.bench.data_label, "config": self.bench.cfg.to_dict(),
                         "manifest_sha256": file_sha256(self.bench.data_dir / MANIFEST)})
        write_json_atomic(self.folder / "meta.json", meta)
        return self.folder


def markdown(df: pd.DataFrame, floatfmt: str = ".1f") -> str:
    """A pipe table without the optional 'tabulate' dependency."""
    def cell(v: Any) -> str:
        if v is None or v is pd.NA:
            return ""
        if isinstance(v, float):
            return "" if v != v else format(v, floatfmt)
        return str(v)

    index = df.index.name or ""
    header = [index] + [str(c) for c in df.columns]
    rows = [[str(i)] + [cell(v) for v in row] for i, row in zip(df.index, df.itertuples(index=False))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)

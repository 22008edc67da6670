"""``hipart train all`` and ``hipart demo``: dataset -> MSST -> HiARM -> lifters, each stage resumable and skipped
when its finished checkpoint matches the config.

Run folder (``runs/<config>`` by default)::

    config.yaml           the whole config
    msst/ hiarm/          stage folders (checkpoint, config, metrics.csv, summary.json)
    lifter_hier/ lifter_sparse/ lifter_gt-hier/   one lifter per input mode, each with eval.csv
    baseline_<name>/      with --with-baselines: every registered baseline (hipart.models.baselines)
    summary.csv           MPJPE and P-MPJPE per action (test split) for every lifter (and lifting baseline)
    densify_summary.csv   with --with-baselines: x_d / x_f 2D error (px) per action for the densification baselines
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from hipart.config import Config
from hipart.errors import HipartError
from hipart.io import atomic_path

LIFTER_INPUTS = ("hier", "sparse", "gt-hier")


def _banner(log: Callable[[str], None], text: str) -> None:
    log(f"\n=== {text} " + "=" * max(3, 72 - len(text)))


def _stage_state(folder: Path, section: str, cfg: Config) -> str:
    """'missing', 'partial' (resume it) or 'done'; a checkpoint made with another config section is refused."""
    from hipart.training.engine import load_checkpoint

    path = folder / "checkpoint.pt"
    if not path.exists():
        return "missing"
    ckpt = load_checkpoint(path, "lifter" if section == "lifter" else section)
    mine = cfg.to_dict()[section]
    theirs = ckpt.get("config", {}).get(section)
    if theirs != mine:
        diff = sorted(k for k in set(mine) | set(theirs or {}) if (theirs or {}).get(k) != mine.get(k))
        raise HipartError(f"{path} was trained with other '{section}' settings ({', '.join(diff[:5])}); pass --force "
                          "to retrain or use another --out")
    return "done" if ckpt.get("finished") else "partial"


def train_all(cfg: Config, data_dir: str | Path | None = None, out: str | Path | None = None, force: bool = False,
              progress: bool = True, log: Callable[[str], None] = print, with_baselines: bool = False
              ) -> pd.DataFrame:
    """Build what is missing and train every stage; returns the summary table (also summary.csv)."""
    from hipart.data.build import build_dataset
    from hipart.data.prepare import default_out, make_source
    from hipart.training.hiarm import train_hiarm
    from hipart.training.lifter import train_lifter
    from hipart.training.msst import train_msst

    data_dir = Path(data_dir) if data_dir is not None else default_out(cfg)
    run = Path(out) if out is not None else Path("runs") / cfg.name
    main_process = int(os.environ.get("RANK", "0")) == 0  # under torchrun only rank 0 writes shared files
    _banner(log, f"dataset: {data_dir}")
    if (data_dir / "manifest.json").is_file():
        log("dataset present; checking it matches the config")
    elif int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise HipartError(f"{data_dir}: build the dataset before starting torchrun ('hipart data build --config "
                          f"{cfg.name} --out {data_dir}'); processes must not build it side by side")
    build_dataset(make_source(cfg, log=log), data_dir, progress=progress and main_process, log=log)
    if main_process:
        run.mkdir(parents=True, exist_ok=True)
        cfg.save(run / "config.yaml")

    def stage(name: str, section: str, folder: Path, train: Callable[..., Any]) -> None:
        _banner(log, f"{name}: {folder}")
        state = "missing" if force else _stage_state(folder, section, cfg)
        if state == "done":
            log(f"{name}: finished checkpoint matches the config; skipped (--force retrains)")
            return
        train(resume=state == "partial", force=force)

    stage("stage 1, MSST", "msst", run / "msst",
          lambda **kw: train_msst(cfg, data_dir, run / "msst", progress=progress, log=log, **kw))
    stage("stage 2, HiARM", "hiarm", run / "hiarm",
          lambda **kw: train_hiarm(cfg, data_dir, run / "msst" / "checkpoint.pt", run / "hiarm", progress=progress,
                                   log=log, **kw))
    tables = {}
    for mode in LIFTER_INPUTS:
        mode_cfg = dataclasses.replace(cfg, lifter=dataclasses.replace(cfg.lifter, input=mode))
        folder = run / f"lifter_{mode}"
        _banner(log, f"stage 3, lifter ({mode}): {folder}")
        state = "missing" if force else _stage_state(folder, "lifter", mode_cfg)
        if state == "done":
            log("finished checkpoint matches the config; skipped (--force retrains)")
        else:
            train_lifter(mode_cfg, data_dir, folder, (run / "msst", run / "hiarm") if mode == "hier" else None,
                         resume=state == "partial", force=force, progress=progress, log=log)
        if main_process:
            tables[mode] = pd.read_csv(folder / "eval.csv", index_col="action")
    densifiers: dict[str, pd.DataFrame] = {}
    if with_baselines:
        from hipart.models.baselines import method_settings, registered
        from hipart.training.baselines import checkpoint_kind, train_baseline

        for method in registered():
            name = method.name
            folder = run / method.folder_name(method_settings(cfg, name))
            _banner(log, f"baseline {name}: {folder}")
            state = "missing" if force else _baseline_state(folder, checkpoint_kind(name), cfg, name)
            if state == "done":
                log("finished checkpoint matches the config; skipped (--force retrains)")
            else:
                train_baseline(cfg, name, data_dir, run, folder, resume=state == "partial", force=force,
                               progress=progress, log=log)
            if main_process:
                table = pd.read_csv(folder / "eval.csv", index_col="action")
                (tables if method.task == "lift" else densifiers)[folder.name.removeprefix("baseline_")] = table
    if not main_process:
        return pd.DataFrame()
    summary = pd.concat({mode: t[["MPJPE", "P-MPJPE"]] for mode, t in tables.items()}, axis=1)
    summary.columns = [f"{metric} {mode}" for mode, metric in summary.columns]
    summary["frames"] = tables["sparse"]["frames"]
    with atomic_path(run / "summary.csv") as tmp:
        summary.round(2).to_csv(tmp)
    if densifiers:
        dens = pd.concat({name: t.drop(columns="frames") for name, t in densifiers.items()}, axis=1)
        dens.columns = [f"{metric} {name}" for name, metric in dens.columns]
        with atomic_path(run / "densify_summary.csv") as tmp:
            dens.round(2).to_csv(tmp)
    return summary


def _baseline_state(folder: Path, kind: str, cfg: Config, name: str) -> str:
    """As _stage_state, for a baseline: its checkpoint's settings must equal the config's."""
    from hipart.models.baselines import method_settings
    from hipart.training.engine import load_checkpoint

    path = folder / "checkpoint.pt"
    if not path.exists():
        return "missing"
    ckpt = load_checkpoint(path, kind)
    mine, theirs = dataclasses.asdict(method_settings(cfg, name)), ckpt["model_args"]["settings"]
    if mine != theirs:
        diff = sorted(k for k in mine if theirs.get(k) != mine[k])
        raise HipartError(f"{path} was trained with other '{name}' settings ({', '.join(diff[:5])}); pass --force "
                          "to retrain or use another --out")
    return "done" if ckpt.get("finished") else "partial"


def demo(out: str | Path = "runs/demo", data_dir: str | Path | None = None, progress: bool = True,
         log: Callable[[str], None] = print) -> dict[str, Any]:
    """The README's main command: the demo preset end to end on the embedded default data, then one figure."""
    import time

    from hipart.config import load_config
    from hipart.figures import demo_figure

    start = time.perf_counter()
    cfg = load_config("demo")
    summary = train_all(cfg, data_dir, out, progress=progress, log=log)
    figure = demo_figure(out, data_dir if data_dir is not None else _default_data(cfg), Path(out) / "demo.png")
    return {"summary": summary, "figure": figure, "seconds": time.perf_counter() - start}


def _default_data(cfg: Config) -> Path:
    from hipart.data.prepare import default_out

    return default_out(cfg)

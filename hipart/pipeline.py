"""``hipart train all`` and ``hipart demo``: dataset -> MSST -> HiARM -> lifters (-> baselines), each stage resumable
and skipped when its finished checkpoint matches.

The dataset folder is the truth about the data: when ``--data DIR`` holds a built dataset (a Pose2Mesh build, the
default capture, anything ``hipart data build`` made), every stage trains on it as it is, whatever the config's
``data`` / ``coarsen`` sections say; those sections only describe how to build a dataset that is missing. Before
any training, every existing stage of the run folder is checked against the dataset (hierarchy and manifest hash),
the config and the stages it was trained on; what cannot be continued is refused with the fix (``--force`` or
another ``--out``). Run folder layout: :mod:`hipart.runs`.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from hipart.checkpoints import dict_differences, stage_state
from hipart.config import Config, added_defaults, load_config
from hipart.data.build import MANIFEST, build_dataset
from hipart.data.dataset import load_manifest
from hipart.data.prepare import default_out, make_source
from hipart.errors import HipartError
from hipart.figures import demo_figure
from hipart.io import atomic_path, file_sha256
from hipart.models.baselines import Method, checkpoint_kind, method_settings, registered
from hipart.models.hiarm import KIND as HIARM_KIND
from hipart.models.lifter import KIND as LIFTER_KIND
from hipart.models.msst import KIND as MSST_KIND
from hipart.runs import DEMO_RUN, LIFTER_INPUTS, RunLayout, StageDir
from hipart.training.baselines import train_baseline
from hipart.training.hiarm import train_hiarm
from hipart.training.lifter import train_lifter
from hipart.training.msst import train_msst


def _banner(log: Callable[[str], None], text: str) -> None:
    log(f"\n=== {text} " + "=" * max(3, 72 - len(text)))


@dataclass
class PlannedStage:
    title: str
    stage: StageDir
    kind: str
    section: str  # what the checkpoint's settings are compared with, for the refusal message
    settings: dict[str, Any]  # the settings the checkpoint must have been trained with
    checkpoint_settings: Callable[[dict[str, Any]], dict[str, Any]]  # those settings as the checkpoint records them
    upstream: tuple[str, ...]  # stages whose checkpoints this one was trained on ("msst", "hiarm")
    train: Callable[..., Any]  # train(resume=..., force=...)
    table: str | None = None  # summary.csv / densify_summary.csv column group, if any
    task: str = "lift"


def dataset_for(cfg: Config, data_dir: str | Path | None, progress: bool, log: Callable[[str], None]) -> Path:
    """The dataset a run trains on: ``data_dir`` as it is when it holds a built dataset, otherwise built there (or in
    data/<source>-<config name>) from the config's data and coarsen sections."""
    data = Path(data_dir) if data_dir is not None else default_out(cfg)
    if (data / MANIFEST).is_file():
        manifest = load_manifest(data)
        log(f"dataset: {data} ({manifest['counts']['train']} train / {manifest['counts']['test']} test frames, "
            f"{manifest['settings']['source'].get('kind', 'default')} source); used as it is")
        return data
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise HipartError(f"{data}: build the dataset before starting torchrun ('hipart data build --config "
                          f"{cfg.name} --out {data}'); processes must not build it side by side")
    log(f"dataset: {data} is missing; building it from config '{cfg.name}'")
    build_dataset(make_source(cfg, log=log), data, progress=progress and _main_process(), log=log)
    return data


def _main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0  # under torchrun only rank 0 writes shared files


def checkpoint_section(ckpt: dict[str, Any], name: str, with_keypoints: bool = True) -> dict[str, Any]:
    """A checkpoint's config section ``name`` (plus the keypoints it was trained on, 'gt' before that key existed;
    and the settings added since, ``omit_default`` in hipart.config, at their defaults when it lacks them), to compare
    with the settings asked for."""
    config = ckpt.get("config", {})
    section = getattr(Config(), name, None)
    added = added_defaults(type(section)) if dataclasses.is_dataclass(section) else {}
    return {**added, **config.get(name, {}),
            **({"keypoints": config.get("keypoints", "gt")} if with_keypoints else {})}


def train_lifter_in(cfg: Config, data: str | Path, out: str | Path, run: str | Path | None, force: bool = False,
                    progress: bool = True) -> dict[str, Any]:
    """Train ``cfg.lifter`` into the stage folder ``out``, resuming an unfinished checkpoint made with the same lifter
    settings and returning a finished one's summary; a checkpoint made with other settings is refused (``force``
    retrains). The lifter's summary (test and train MPJPE, complexity)."""
    wanted = {**cfg.to_dict()["lifter"], "keypoints": cfg.keypoints}
    state = "missing" if force else stage_state(
        StageDir(Path(out)), LIFTER_KIND, lambda ckpt: dict_differences(wanted, checkpoint_section(ckpt, "lifter")),
        "'lifter' settings")
    return train_lifter(cfg, data, out, run, resume=state != "missing", force=force, progress=progress)


def plan(cfg: Config, data: Path, run: RunLayout, with_baselines: bool, progress: bool,
         log: Callable[[str], None], lifter_inputs: tuple[str, ...] = LIFTER_INPUTS) -> list[PlannedStage]:
    """Every stage of ``train all`` in order, with how to check and train it (the lifters of ``lifter_inputs``)."""
    common = {"progress": progress, "log": log}

    def section(name: str, with_keypoints: bool = True) -> Callable[[dict[str, Any]], dict[str, Any]]:
        return lambda ckpt: checkpoint_section(ckpt, name, with_keypoints)

    stages = [
        PlannedStage("stage 1, MSST", run.msst, MSST_KIND, "'msst' settings", cfg.to_dict()["msst"],
                     section("msst", with_keypoints=False), (),  # MSST models the true fine pose: no keypoints
                     lambda **kw: train_msst(cfg, data, run.msst.path, **common, **kw)),
        PlannedStage("stage 2, HiARM", run.hiarm, HIARM_KIND, "'hiarm' settings",
                     {**cfg.to_dict()["hiarm"], "keypoints": cfg.keypoints}, section("hiarm"), ("msst",),
                     lambda **kw: train_hiarm(cfg, data, run.msst.checkpoint, run.hiarm.path, **common, **kw)),
    ]
    for mode in lifter_inputs:
        mode_cfg = dataclasses.replace(cfg, lifter=dataclasses.replace(cfg.lifter, input=mode))
        stages.append(PlannedStage(
            f"stage 3, lifter ({mode})", run.lifter(mode), LIFTER_KIND, "'lifter' settings",
            {**mode_cfg.to_dict()["lifter"], "keypoints": cfg.keypoints}, section("lifter"),
            ("msst", "hiarm") if mode == "hier" else (),
            lambda mode_cfg=mode_cfg, stage=run.lifter(mode), **kw: train_lifter(mode_cfg, data, stage.path, run.root,
                                                                                 **common, **kw),
            table=mode))
    if with_baselines:
        for method in registered():
            stages.append(_baseline_stage(cfg, method, data, run, common))
    return stages


def _baseline_stage(cfg: Config, method: Method, data: Path, run: RunLayout, common: dict[str, Any]) -> PlannedStage:
    settings = method_settings(cfg, method.name)
    stage = run.stage(method.folder_name(settings))
    return PlannedStage(
        f"baseline {method.name}", stage, checkpoint_kind(method.name), f"'baselines.{method.name}' settings",
        {**dataclasses.asdict(settings), "keypoints": cfg.keypoints},
        # settings added since (omit_default) at their defaults when the checkpoint lacks them
        lambda ckpt: {**added_defaults(method.config), **ckpt["model_args"].get("settings", {}),
                      "keypoints": ckpt.get("config", {}).get("keypoints", "gt")}, method.needs(settings),
        lambda **kw: train_baseline(cfg, method.name, data, run.root, stage.path, **common, **kw),
        table=stage.name.removeprefix("baseline_"), task=method.task)


def check_stages(stages: list[PlannedStage], run: RunLayout, data: Path, force: bool) -> dict[str, str]:
    """State of every stage ('missing', 'partial', 'done'; all 'missing' with ``force``), checked before any work:
    a checkpoint made on another hierarchy or dataset, with other settings, or on other upstream checkpoints than
    the run's is refused with the fix."""
    if force:
        return {s.stage.name: "missing" for s in stages}
    manifest = load_manifest(data)
    data_sha = file_sha256(data / MANIFEST)
    states: dict[str, str] = {}
    for s in stages:
        def differences(ckpt: dict[str, Any], s: PlannedStage = s) -> list[str]:
            diff = dict_differences(s.settings, s.checkpoint_settings(ckpt))
            if ckpt.get("hierarchy_hash") != manifest["hierarchy"]["hash"]:
                diff.insert(0, f"hierarchy of {data}")
            elif ckpt.get("data_sha256", data_sha) != data_sha:
                diff.insert(0, f"dataset {data}")
            for name in s.upstream:
                if states.get(name) != "done":
                    diff.insert(0, f"{name}/ is not finished")
                elif ckpt.get("upstream", {}).get(name, file_sha256(run.stage(name).checkpoint)) != \
                        file_sha256(run.stage(name).checkpoint):
                    diff.insert(0, f"another {name}/ checkpoint")
            return diff

        states[s.stage.name] = stage_state(s.stage, s.kind, differences, s.section)
    return states


def train_all(cfg: Config, data_dir: str | Path | None = None, out: str | Path | None = None, force: bool = False,
              progress: bool = True, log: Callable[[str], None] = print, with_baselines: bool = False,
              lifter_inputs: tuple[str, ...] = LIFTER_INPUTS) -> pd.DataFrame:
    """Build the dataset when it is missing and train every stage (the lifters of ``lifter_inputs``: all three by
    default); returns the summary table (also summary.csv)."""
    run = RunLayout(out) if out is not None else RunLayout.for_config(cfg.name)
    unknown = sorted(set(lifter_inputs) - set(LIFTER_INPUTS))
    if unknown or not lifter_inputs:  # like unknown baseline settings, refused before any work
        raise HipartError(f"lifter inputs {unknown or '(none)'}: give one or more of {', '.join(LIFTER_INPUTS)}")
    if with_baselines:  # unknown or mistyped baseline settings fail before any work
        for method in registered():
            method_settings(cfg, method.name)
    data = dataset_for(cfg, data_dir, progress, log)
    stages = plan(cfg, data, run, with_baselines, progress, log, lifter_inputs)
    states = check_stages(stages, run, data, force)
    if _main_process():
        run.root.mkdir(parents=True, exist_ok=True)
        cfg.save(run.config)
    tables: dict[str, tuple[str, pd.DataFrame]] = {}
    for s in stages:
        _banner(log, f"{s.title}: {s.stage.path}")
        if states[s.stage.name] == "done":
            log("finished checkpoint matches; skipped (--force retrains)")
        else:
            s.train(resume=states[s.stage.name] == "partial", force=force)
        if s.table is not None and _main_process():
            tables[s.table] = (s.task, pd.read_csv(s.stage.eval, index_col="action"))
    if not _main_process():
        return pd.DataFrame()
    return write_summaries(run, tables)


def write_summaries(run: RunLayout, tables: dict[str, tuple[str, pd.DataFrame]]) -> pd.DataFrame:
    """summary.csv (MPJPE / P-MPJPE per action of every lifter and lifting baseline) and, when densification
    baselines were trained, densify_summary.csv (their x_d / x_f error per action)."""
    lifts = {name: t for name, (task, t) in tables.items() if task == "lift"}
    summary = pd.concat({name: t[["MPJPE", "P-MPJPE"]] for name, t in lifts.items()}, axis=1)
    summary.columns = [f"{metric} {name}" for name, metric in summary.columns]
    summary["frames"] = next(iter(lifts.values()))["frames"]
    with atomic_path(run.summary_csv) as tmp:
        summary.round(2).to_csv(tmp)
    dens = {name: t for name, (task, t) in tables.items() if task == "densify"}
    if dens:
        table = pd.concat({name: t.drop(columns="frames") for name, t in dens.items()}, axis=1)
        table.columns = [f"{metric} {name}" for name, metric in table.columns]
        with atomic_path(run.densify_summary_csv) as tmp:
            table.round(2).to_csv(tmp)
    return summary


def demo(out: str | Path = DEMO_RUN, data_dir: str | Path | None = None, progress: bool = True,
         log: Callable[[str], None] = print) -> dict[str, Any]:
    """The README's main command: the demo preset end to end on the embedded default data, then one figure."""
    start = time.perf_counter()
    cfg = load_config("demo")
    data = Path(data_dir) if data_dir is not None else default_out(cfg)
    summary = train_all(cfg, data, out, progress=progress, log=log)
    figure = demo_figure(out, data, Path(out) / "demo.png")
    return {"summary": summary, "figure": figure, "seconds": time.perf_counter() - start}

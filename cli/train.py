"""`hipart train ...`: parse arguments, call hipart.training."""

from __future__ import annotations

from pathlib import Path

import click

from hipart.runs import RunLayout
from hipart_cli.common import HipartGroup


class TrainGroup(HipartGroup):
    """The stage commands plus one command per registered baseline, built on demand from the registry (so that
    commands which do not train never import torch)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from hipart.models.baselines import registered

        return super().list_commands(ctx) + [m.name for m in registered()]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = super().get_command(ctx, name)
        if command is not None:
            return command
        from hipart.models.baselines import registered

        methods = {m.name: m for m in registered()}
        return baseline_command(methods[name]) if name in methods else None


@click.group(cls=TrainGroup)
def train() -> None:
    """Train the three stages: MSST tokenizer, HiARM densifier, lifter (or all in order), and the baselines.

    Multi-GPU (or multi-process CPU) training: torchrun --nproc_per_node N -m hipart_cli.main train STAGE ...
    """


def _config(config_name: str, device: str | None, keypoints: str | None = None, **overrides):
    from hipart.config import load_config

    values = {**({"device": device} if device else {}), **({"keypoints": keypoints} if keypoints else {}), **overrides}
    return load_config(config_name, values or None)


def keypoints_option(fn):
    return click.option(
        "--keypoints", type=click.Choice(["gt", "detected"]), default=None,
        help="The observed sparse 2D pose to train and evaluate on: the dataset's true x_s (gt) or the detector's "
             "keypoints on the rendered images (detected; needs 'hipart data render' and 'hipart detect' on the "
             "dataset). Default: the config's keypoints (gt). MSST always models the true fine pose.")(fn)


def stage_options(stage: str):
    """The options every `hipart train STAGE` command shares."""

    def wrap(fn):
        for opt in reversed([
            click.option("--config", "config_name", default="demo", show_default=True,
                         help="Preset (tiny, demo, bench, paper, pretrained) or YAML file."),
            click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None,
                         help="Dataset from 'hipart data build'. Default: data/<source>-<config name>."),
            click.option("--out", type=click.Path(path_type=Path), default=None,
                         help=f"Folder for this stage. Default: runs/<config name>/{stage}."),
            click.option("--resume", is_flag=True, help="Continue the checkpoint in --out from its last epoch."),
            click.option("--force", is_flag=True, help="Train from scratch even if --out holds a checkpoint."),
            click.option("--device", default=None, help="auto (cuda when present), cpu, cuda or cuda:N."),
            click.option("--quiet", is_flag=True, help="No progress bars."),
        ]):
            fn = opt(fn)
        return fn

    return wrap


def _data(cfg, data_dir: Path | None) -> Path:
    from hipart.data.prepare import default_out

    return data_dir if data_dir is not None else default_out(cfg)


@train.command("msst")
@stage_options("msst")
@click.option("--dry-run", is_flag=True, help="Print parameters and FLOPs per frame of the configured model; no data.")
def msst(config_name: str, data_dir: Path | None, out: Path | None, resume: bool, force: bool, device: str | None,
         quiet: bool, dry_run: bool) -> None:
    """Stage 1: train the multi-scale skeletal tokenizer (MSST) on the fine/dense 2D poses of a dataset."""
    from hipart.training.msst import build_msst, complexity, train_msst

    cfg = _config(config_name, device)
    if dry_run:
        c = complexity(build_msst(cfg, None))
        m = cfg.msst
        click.echo(f"MSST ({cfg.name}): L1={m.num_blocks} D1={m.dim} r={m.tokens_per_part} codebooks "
                   f"{m.codebook_size_sparse}/{m.codebook_size_dense}: {c['params']:,} parameters, "
                   f"{c['flops_per_item'] / 1e6:.2f} MFLOPs per frame (forward, FlopCounterMode)")
        return
    data_dir, out = _data(cfg, data_dir), out or RunLayout.for_config(cfg.name).msst.path
    summary = train_msst(cfg, data_dir, out, resume=resume, force=force, progress=not quiet, log=click.echo)
    if summary:
        t = summary["test"]
        click.echo(f"MSST test reconstruction: x_d {t['x_d_px']:.2f} px, x_f {t['x_f_px']:.2f} px; codes used "
                   f"{t['codes_used_s']} sparse / {t['codes_used_d']} dense; run folder {out}")


@train.command("hiarm")
@stage_options("hiarm")
@keypoints_option
@click.option("--msst", "msst_path", type=click.Path(path_type=Path), default=None,
              help="Trained MSST checkpoint. Default: runs/<config name>/msst/checkpoint.pt.")
def hiarm(config_name: str, data_dir: Path | None, out: Path | None, resume: bool, force: bool, device: str | None,
          quiet: bool, keypoints: str | None, msst_path: Path | None) -> None:
    """Stage 2: train the autoregressive densifier (HiARM) to predict MSST tokens from the sparse 2D pose."""
    from hipart.training.hiarm import train_hiarm

    cfg = _config(config_name, device, keypoints)
    run = RunLayout.for_config(cfg.name)
    data_dir, out = _data(cfg, data_dir), out or run.hiarm.path
    msst_path = msst_path if msst_path is not None else run.msst.checkpoint
    summary = train_hiarm(cfg, data_dir, msst_path, out, resume=resume, force=force, progress=not quiet,
                          log=click.echo)
    if summary:
        t, d = summary["test"], summary["decoding"]
        click.echo(f"HiARM test (greedy, {t['frames']} frames): token accuracy sparse {t['acc_s']:.3f}, dense "
                   f"{t['acc_d']:.3f}; x_d {t['x_d_px']:.2f} px, x_f {t['x_f_px']:.2f} px; decoding "
                   f"{d['fps_cached']:.0f} frames/s cached, {d['fps_uncached']:.0f} uncached; run folder {out}")


@train.command("lifter")
@stage_options("lifter")
@keypoints_option
@click.option("--input", "mode", type=click.Choice(["hier", "sparse", "gt-hier"]), default=None,
              help="What the lifter reads: x_s + HiARM's dense/fine levels (hier), x_s only (sparse), or the true "
                   "dense/fine levels (gt-hier). Default: the config's lifter.input.")
@click.option("--run", "run_dir", type=click.Path(path_type=Path), default=None,
              help="Run folder with msst/ and hiarm/ (hier input). Default: runs/<config name>.")
def lifter(config_name: str, data_dir: Path | None, out: Path | None, resume: bool, force: bool, device: str | None,
           quiet: bool, keypoints: str | None, mode: str | None, run_dir: Path | None) -> None:
    """Stage 3: train the 2D-to-3D lifter (MPJPE loss) and evaluate MPJPE / P-MPJPE per action."""
    from hipart.training.lifter import train_lifter

    cfg = _config(config_name, device, keypoints, **({"lifter": {"input": mode}} if mode else {}))
    run = RunLayout(run_dir) if run_dir is not None else RunLayout.for_config(cfg.name)
    data_dir, out = _data(cfg, data_dir), out or run.lifter(cfg.lifter.input).path
    summary = train_lifter(cfg, data_dir, out, run.root, resume=resume, force=force, progress=not quiet,
                           log=click.echo)
    if summary:
        t = summary["test"]
        click.echo(f"lifter ({summary['input']}): test MPJPE {t['mpjpe']:.1f} mm, P-MPJPE {t['p_mpjpe']:.1f} mm over "
                   f"{t['frames']} frames; per action: {out / 'eval.csv'}")


@train.command("all")
@click.option("--config", "config_name", default="demo", show_default=True,
              help="Preset (tiny, demo, bench, paper, pretrained) or YAML file.")
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None,
              help="Dataset folder (built when missing). Default: data/<source>-<config name>.")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Run folder. Default: runs/<config name>.")
@click.option("--force", is_flag=True, help="Retrain every stage even when its checkpoint is finished.")
@click.option("--device", default=None, help="auto (cuda when present), cpu, cuda or cuda:N.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@keypoints_option
@click.option("--with-baselines", is_flag=True,
              help="Then train every registered baseline (settings from the config's baselines section) and add "
                   "the lifting ones to summary.csv; densifiers go to densify_summary.csv.")
def all_stages(config_name: str, data_dir: Path | None, out: Path | None, force: bool, device: str | None,
               quiet: bool, keypoints: str | None, with_baselines: bool) -> None:
    """Everything in order: dataset (built if missing), MSST, HiARM, then the hier, sparse and gt-hier lifters
    (and the baselines with --with-baselines). Finished stages whose checkpoint matches the config are skipped;
    unfinished ones resume."""
    import pandas as pd

    from hipart.pipeline import train_all

    cfg = _config(config_name, device, keypoints)
    summary = train_all(cfg, data_dir, out, force=force, progress=not quiet, log=click.echo,
                        with_baselines=with_baselines)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        click.echo(summary.round(1).to_string())
    click.echo(f"summary: {(RunLayout(out) if out else RunLayout.for_config(cfg.name)).summary_csv}")



@train.command("pretrained")
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=Path("data/default-demo"),
              show_default=True, help="The demo dataset (built when missing; shared with 'hipart demo').")
@click.option("--out", type=click.Path(path_type=Path), default=Path("runs/pretrained"), show_default=True,
              help="Run folder; the exported weights go to OUT/export.")
@click.option("--package", is_flag=True,
              help="Then install the export as the package's pretrained weights (hipart/resources/pretrained) and "
                   "the dataset's joint adapter as the packaged one.")
@click.option("--workers", type=int, default=1, show_default=True, help="Processes for rendering and detection.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def pretrained(data_dir: Path, out: Path, package: bool, workers: int, quiet: bool) -> None:
    """The shipped pretrained weights from scratch, resumable (a rerun skips finished steps): build the demo
    dataset, render its test split and every 8th training row, detect them with BlazePose, train the 'pretrained'
    preset (the demo preset, every stage but MSST on the detections), export MSST, HiARM and the hier lifter without
    optimiser state to OUT/export and score them on the test split. About 40 minutes on 2 CPU cores from nothing
    with --workers 2.
    Needs the images extra: pip install -e '.[images]'."""
    from hipart.pretrained import retrain

    info = retrain(data_dir, out, package, workers, progress=not quiet, log=click.echo)
    click.echo(f"pretrained weights: {out / 'export'} ({info['bytes'] / 2**20:.2f} MB); test MPJPE "
               + ", ".join(f"{k.replace('_', ' ')} {v['mpjpe']:.2f} mm" for k, v in info["test"].items()))

def baseline_command(method) -> click.Command:
    """`hipart train NAME` for a registered baseline: the shared stage options plus one option per setting of the
    method (overriding the config's baselines.NAME section, which overrides the method's defaults)."""
    import dataclasses

    settings = [f for f in dataclasses.fields(method.config)]

    def run(config_name: str, data_dir: Path | None, out: Path | None, resume: bool, force: bool,
            device: str | None, quiet: bool, keypoints: str | None, run_dir: Path | None, **values) -> None:
        from hipart.training.baselines import train_baseline

        cfg = _config(config_name, device, keypoints)
        data_dir = _data(cfg, data_dir)
        run_dir = run_dir if run_dir is not None else RunLayout.for_config(cfg.name).root
        summary = train_baseline(cfg, method.name, data_dir, run_dir, out, resume=resume, force=force,
                                 progress=not quiet, log=click.echo, **values)
        if summary:
            scores = ", ".join(f"{k} {v:.2f}" for k, v in summary["test"].items() if k != "frames")
            click.echo(f"{method.name}: test {scores} over {summary['test']['frames']} frames; "
                       f"{summary['complexity']['params']:,} parameters; run folder {out or run_dir}")

    command = run
    for f in reversed(settings):
        kind = {int: int, float: float, str: str, bool: bool}[type(f.default)]
        command = click.option(f"--{f.name.replace('_', '-')}", f.name, type=kind, default=None,
                               help=f"baselines.{method.name}.{f.name} (default {f.default!r}).")(command)
    command = click.option("--run", "run_dir", type=click.Path(path_type=Path), default=None,
                           help="Run folder: the baseline trains into <run>/baseline_<name>, beside the HiPART "
                                "stages it reads. Default: runs/<config name>.")(command)
    command = keypoints_option(command)
    command = stage_options(f"baseline_{method.name}" + ("-<variant>" if method.folder else ""))(command)
    doc = (method.summary[0].upper() + method.summary[1:] + ".\n\nSettings: the method's defaults, then the "
           f"config's 'baselines: {{{method.name}: {{...}}}}' section, then the options below.")
    return click.command(method.name, help=doc)(command)

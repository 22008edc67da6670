"""`hipart train ...`: parse arguments, call hipart.training."""

from __future__ import annotations

from pathlib import Path

import click

from hipart_cli.common import HipartGroup


@click.group(cls=HipartGroup)
def train() -> None:
    """Train the three stages: MSST tokenizer, HiARM densifier, lifter (or all in order).

    Multi-GPU (or multi-process CPU) training: torchrun --nproc_per_node N -m hipart_cli.main train STAGE ...
    """


def _config(config_name: str, device: str | None):
    from hipart.config import load_config

    return load_config(config_name, {"device": device} if device else None)


def stage_options(stage: str):
    """The options every `hipart train STAGE` command shares."""

    def wrap(fn):
        for opt in reversed([
            click.option("--config", "config_name", default="demo", show_default=True,
                         help="Preset (tiny, demo, paper) or YAML file."),
            click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None,
                         help="Dataset from 'hipart data build'. Default: data/<source>-<config name>."),
            click.option("--out", type=click.Path(path_type=Path), default=None,
                         help=f"Run folder for this stage. Default: runs/<config name>/{stage}."),
            click.option("--resume", is_flag=True, help="Continue the checkpoint in --out from its last epoch."),
            click.option("--force", is_flag=True, help="Train from scratch even if --out holds a checkpoint."),
            click.option("--device", default=None, help="auto (cuda when present), cpu, cuda or cuda:N."),
            click.option("--quiet", is_flag=True, help="No progress bars."),
        ]):
            fn = opt(fn)
        return fn

    return wrap


def _paths(cfg, data_dir: Path | None, out: Path | None, stage: str) -> tuple[Path, Path]:
    from hipart.data.prepare import default_out

    return (data_dir if data_dir is not None else default_out(cfg),
            out if out is not None else Path("runs") / cfg.name / stage)


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
    data_dir, out = _paths(cfg, data_dir, out, "msst")
    summary = train_msst(cfg, data_dir, out, resume=resume, force=force, progress=not quiet, log=click.echo)
    if summary:
        t = summary["test"]
        click.echo(f"MSST test reconstruction: x_d {t['x_d_px']:.2f} px, x_f {t['x_f_px']:.2f} px; codes used "
                   f"{t['codes_used_s']} sparse / {t['codes_used_d']} dense; run folder {out}")


@train.command("hiarm")
@stage_options("hiarm")
@click.option("--msst", "msst_path", type=click.Path(path_type=Path), default=None,
              help="Trained MSST checkpoint. Default: runs/<config name>/msst/checkpoint.pt.")
def hiarm(config_name: str, data_dir: Path | None, out: Path | None, resume: bool, force: bool, device: str | None,
          quiet: bool, msst_path: Path | None) -> None:
    """Stage 2: train the autoregressive densifier (HiARM) to predict MSST tokens from the sparse 2D pose."""
    from hipart.training.hiarm import train_hiarm

    cfg = _config(config_name, device)
    data_dir, out = _paths(cfg, data_dir, out, "hiarm")
    msst_path = msst_path if msst_path is not None else Path("runs") / cfg.name / "msst" / "checkpoint.pt"
    summary = train_hiarm(cfg, data_dir, msst_path, out, resume=resume, force=force, progress=not quiet,
                          log=click.echo)
    if summary:
        t, d = summary["test"], summary["decoding"]
        click.echo(f"HiARM test (greedy, {t['frames']} frames): token accuracy sparse {t['acc_s']:.3f}, dense "
                   f"{t['acc_d']:.3f}; x_d {t['x_d_px']:.2f} px, x_f {t['x_f_px']:.2f} px; decoding "
                   f"{d['fps_cached']:.0f} frames/s cached, {d['fps_uncached']:.0f} uncached; run folder {out}")

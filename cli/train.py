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


@train.command("msst")
@click.option("--config", "config_name", default="demo", show_default=True,
              help="Preset (tiny, demo, paper) or YAML file; the 'msst' section sets the model and optimiser.")
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None,
              help="Dataset from 'hipart data build'. Default: data/<source>-<config name>.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Run folder for this stage. Default: runs/<config name>/msst.")
@click.option("--resume", is_flag=True, help="Continue the checkpoint in --out from its last finished epoch.")
@click.option("--force", is_flag=True, help="Train from scratch even if --out holds a checkpoint.")
@click.option("--device", default=None, help="auto (cuda when present), cpu, cuda or cuda:N. Default: the config's.")
@click.option("--dry-run", is_flag=True, help="Print parameters and FLOPs per frame of the configured model; no data.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def msst(config_name: str, data_dir: Path | None, out: Path | None, resume: bool, force: bool, device: str | None,
         dry_run: bool, quiet: bool) -> None:
    """Stage 1: train the multi-scale skeletal tokenizer (MSST) on the fine/dense 2D poses of a dataset."""
    from hipart.data.prepare import default_out
    from hipart.training.msst import build_msst, complexity, train_msst

    cfg = _config(config_name, device)
    if dry_run:
        c = complexity(build_msst(cfg, None))
        m = cfg.msst
        click.echo(f"MSST ({cfg.name}): L1={m.num_blocks} D1={m.dim} r={m.tokens_per_part} codebooks "
                   f"{m.codebook_size_sparse}/{m.codebook_size_dense}: {c['params']:,} parameters, "
                   f"{c['flops_per_item'] / 1e6:.2f} MFLOPs per frame (forward, FlopCounterMode)")
        return
    data_dir = data_dir if data_dir is not None else default_out(cfg)
    out = out if out is not None else Path("runs") / cfg.name / "msst"
    summary = train_msst(cfg, data_dir, out, resume=resume, force=force, progress=not quiet, log=click.echo)
    if summary:
        t = summary["test"]
        click.echo(f"MSST test reconstruction: x_d {t['x_d_px']:.2f} px, x_f {t['x_f_px']:.2f} px; codes used "
                   f"{t['codes_used_s']} sparse / {t['codes_used_d']} dense; run folder {out}")

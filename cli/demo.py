"""`hipart demo`: the whole pipeline on the embedded default data."""

from __future__ import annotations

from pathlib import Path

import click

from hipart.runs import DEMO_RUN


@click.command("demo")
@click.option("--out", type=click.Path(path_type=Path), default=DEMO_RUN, show_default=True,
              help="Run folder (rerunning skips finished stages).")
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None,
              help="Dataset folder (built when missing). Default: data/default-demo.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def demo(out: Path, data_dir: Path | None, quiet: bool) -> None:
    """Build a small default dataset, train MSST, HiARM and three lifters (demo preset), evaluate, draw a figure.

    About 12-20 minutes on 2 CPU cores (measured); numbers are on synthetic Anny data, not Human3.6M."""
    import pandas as pd

    from hipart.pipeline import demo as run_demo

    result = run_demo(out, data_dir, progress=not quiet, log=click.echo)
    click.echo("\nTest-split MPJPE / P-MPJPE (mm) per action, embedded synthetic data (not Human3.6M):")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        click.echo(result["summary"].round(1).to_string())
    avg = result["summary"].loc["Average"]
    click.echo(f"\nhier vs sparse: {avg['MPJPE hier']:.1f} vs {avg['MPJPE sparse']:.1f} mm; gt-hier vs sparse: "
               f"{avg['MPJPE gt-hier']:.1f} vs {avg['MPJPE sparse']:.1f} mm")
    click.echo(f"files: {out / 'summary.csv'}, {result['figure']}, stage folders in {out}; "
               f"wall time {result['seconds'] / 60:.1f} min")

"""`hipart data ...`: parse arguments, call hipart.data."""

from __future__ import annotations

from pathlib import Path

import click

from hipart_cli.common import HipartGroup


@click.group(cls=HipartGroup)
def data() -> None:
    """Build and inspect the multi-level (17 / 48 / 96 joint) pose dataset."""


@data.command("preview")
@click.option("--out", type=click.Path(path_type=Path), default=Path("preview.png"), show_default=True,
              help="PNG to write.")
@click.option("--subject", default="S1", show_default=True, help="Synthetic subject (S1 S5 S6 S7 S8 S9 S11).")
@click.option("--camera", type=int, default=0, show_default=True, help="Camera index 0-3 of that subject.")
@click.option("--frames", "frames_per_action", type=int, default=4, show_default=True,
              help="Frames per action, evenly spaced over the sequence.")
@click.option("--action", "actions", multiple=True, help="Only these actions (repeat the option); default all 15.")
@click.option("--length", type=int, default=500, show_default=True,
              help="Frames generated per action (50 fps) before picking the preview frames.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the synthetic subjects and motion.")
def preview(out: Path, subject: str, camera: int, frames_per_action: int, actions: tuple[str, ...], length: int,
            seed: int) -> None:
    """Contact sheet of the embedded default data: mesh silhouette and 2D skeleton per action and frame."""
    from hipart.data.preview import preview_sheet
    from hipart.data.synthetic import SyntheticH36M

    capture = SyntheticH36M(frames=length, seed=seed)
    path = preview_sheet(capture, out, subject, camera, frames_per_action, actions or None)
    click.echo(f"preview: {path}")

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
    """Contact sheet of the embedded default data: per action a few frames (shaded mesh with limb stripes that
    show axial rotation, 2D skeleton) and plots of the limb and trunk rotations over the sequence."""
    from hipart.data.preview import preview_sheet
    from hipart.data.synthetic import SyntheticH36M

    capture = SyntheticH36M(frames=length, seed=seed)
    path = preview_sheet(capture, out, subject, camera, frames_per_action, actions or None)
    click.echo(f"preview: {path}")


@data.command("build")
@click.option("--config", "config_name", default="demo", show_default=True,
              help="Preset (tiny, demo, bench, paper, pretrained) or YAML file; its 'data' section sets the defaults below.")
@click.option("--source", default=None,
              help="'default' (the embedded Anny capture) or a Pose2Mesh data folder (Human36M annotations, SMPL "
                   "neutral pickle, J_regressor_h36m_correct.npy). Default: the config's data.source.")
@click.option("--hierarchy", type=click.Path(path_type=Path), default=None,
              help="Hierarchy from 'hipart coarsen' (.npz). Default: coarsen the source's template now.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Dataset folder. Default: data/<source>-<config name>, e.g. data/default-demo.")
@click.option("--frames-per-action", type=int, default=None,
              help="Embedded capture: frames generated per subject/action/subaction at 50 fps; 0 means the whole "
                   "take, 1000 frames (presets: tiny 8, demo 400, bench 1000, paper 0).")
@click.option("--train-stride", type=int, default=None, help="Keep every n-th frame of the training subjects.")
@click.option("--test-stride", type=int, default=None, help="Keep every n-th frame of the test subjects.")
@click.option("--shard-size", type=int, default=None, help="At most this many frames per shard file.")
@click.option("--distortion/--no-distortion", default=None,
              help="Project with the cameras' lens distortion (Pose2Mesh: never).")
@click.option("--sparse-from", type=click.Choice(["joints", "regressor"]), default=None,
              help="Pose2Mesh: X_s from the H36M 3D joints or from the regressor on the SMPL mesh.")
@click.option("--workers", type=int, default=1, show_default=True,
              help="Worker processes (each loads the body model; 1 uses every core through torch threads).")
@click.option("--full-mesh", is_flag=True,
              help="Skin every mesh vertex and pool afterwards (the slow reference path) instead of the fast path.")
@click.option("--force", is_flag=True, help="Delete a finished or unfinished build in --out and start over.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def build(config_name: str, source: str | None, hierarchy: Path | None, out: Path | None,
          frames_per_action: int | None, train_stride: int | None, test_stride: int | None, shard_size: int | None,
          distortion: bool | None, sparse_from: str | None, workers: int, full_mesh: bool, force: bool,
          quiet: bool) -> None:
    """Build the multi-level dataset: 17 sparse, 48 dense and 96 fine joints per frame and camera, in camera
    space (mm) and pixels, as checksummed shards plus manifest.json. An interrupted build resumes when rerun with
    the same settings."""
    import time

    from hipart.config import load_config
    from hipart.data.build import build_dataset
    from hipart.data.info import summary_lines
    from hipart.data.prepare import default_out, make_source

    overrides: dict = {k: v for k, v in {
        "frames_per_action": frames_per_action, "train_stride": train_stride, "test_stride": test_stride,
        "shard_size": shard_size, "distortion": distortion, "sparse_from": sparse_from}.items() if v is not None}
    if source is not None:
        overrides.update({"source": "default", "path": ""} if source == "default" else
                         {"source": "pose2mesh", "path": source})
    cfg = load_config(config_name, {"data": overrides})
    out = out if out is not None else default_out(cfg)
    src = make_source(cfg, hierarchy, log=click.echo)
    start = time.perf_counter()
    manifest = build_dataset(src, out, workers=workers, force=force, fast=not full_mesh, progress=not quiet,
                             log=click.echo)
    seconds = time.perf_counter() - start
    for line in summary_lines(manifest):
        click.echo(line)
    click.echo(f"dataset: {out} ({seconds:.1f} s)")


@data.command("info")
@click.argument("folder", type=click.Path(path_type=Path), default=Path("data/default-demo"))
@click.option("--verify", is_flag=True, help="Also check every shard's size and sha256 against the manifest.")
def info(folder: Path, verify: bool) -> None:
    """Print a dataset's manifest: source, levels, sizes, and frames per split, subject and action."""
    import pandas as pd

    from hipart.data.dataset import load_manifest, verify_shards
    from hipart.data.info import frames_table, summary_lines
    from hipart.errors import HipartError

    manifest = load_manifest(folder)
    bad = verify_shards(folder, manifest["shards"]) if verify else []
    if bad:  # before the table, so that a failed check is the one line printed
        raise HipartError(f"{len(bad)} bad shard(s) in {folder}, first: {bad[0]}; rebuild with "
                          "'hipart data build --force'")
    for line in summary_lines(manifest):
        click.echo(line)
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        click.echo(frames_table(manifest).to_string())
    if verify:
        click.echo(f"verified: all {len(manifest['shards'])} shards match their sha256")


@data.command("render")
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None,
              help="Dataset from 'hipart data build' (embedded default capture). Default: data/default-<config>.")
@click.option("--config", "config_name", default="demo", show_default=True,
              help="Preset (tiny, demo, bench, paper, pretrained) or YAML file whose default dataset folder is used when --data "
                   "is not given.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Image folder. Default: DATA/images, so the images travel with their rows.")
@click.option("--split", type=click.Choice(["train", "test", "all"]), default="test", show_default=True,
              help="Which split's rows to render.")
@click.option("--subject", "subjects", multiple=True, help="Only these subjects (repeat the option).")
@click.option("--action", "actions", multiple=True, help="Only these actions (repeat the option).")
@click.option("--every", type=int, default=1, show_default=True,
              help="Render every k-th stored frame of each sequence (e.g. --split train --every 4: enough training "
                   "images to fit the joint adapter and train on detections at a quarter of the cost).")
@click.option("--shard", default=None, metavar="i/N",
              help="Render only every N-th image sequence starting at the i-th (array jobs); the task that "
                   "finishes the last sequence writes the index and manifest.")
@click.option("--workers", type=int, default=1, show_default=True,
              help="Processes on this machine, each with its own offscreen renderer.")
@click.option("--format", "fmt", type=click.Choice(["mp4", "jpeg"]), default="mp4", show_default=True,
              help="One mp4v video per sequence and camera (compact) or a zip of JPEG frames (random access).")
@click.option("--quality", type=int, default=90, show_default=True, help="JPEG quality (1-100) for --format jpeg.")
@click.option("--force", is_flag=True, help="Delete images rendered with other settings and start over.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def render(data_dir: Path | None, config_name: str, out: Path | None, split: str, subjects: tuple[str, ...],
           actions: tuple[str, ...], every: int, shard: str | None, workers: int, fmt: str, quality: int, force: bool,
           quiet: bool) -> None:
    """Render a default-capture dataset's frames as each Human3.6M camera sees them (the person in a lab, at the
    camera's image size), one file per sequence and camera, indexed to the dataset's rows. Resumable: a rerun
    skips finished sequences. Needs the images extra: pip install -e '.[images]'."""
    import time

    from hipart.config import load_config
    from hipart.data.prepare import default_out
    from hipart.render.dataset import render_dataset
    from hipart.render.jobs import parse_shard

    data_dir = data_dir if data_dir is not None else default_out(load_config(config_name))
    start = time.perf_counter()
    manifest = render_dataset(data_dir, out, split, parse_shard(shard), workers, fmt, quality, subjects or None,
                              actions or None, force, progress=not quiet, log=click.echo, every=every)
    if manifest is not None:
        counts = ", ".join(f"{n} {s}" for s, n in manifest["counts"].items())
        click.echo(f"images: {out or data_dir / 'images'} ({counts} images; {time.perf_counter() - start:.1f} s)")


@data.command("footage")
@click.option("--data", "data_dir", type=click.Path(path_type=Path), required=True,
              help="A Pose2Mesh build ('hipart data build --source pose2mesh/').")
@click.option("--videos", type=click.Path(path_type=Path), required=True,
              help="The folder holding Human3.6M's S1/Videos/..., S9/Videos/... (e.g. 'Directions 1.54138969.mp4').")
@click.option("--split", type=click.Choice(["train", "test", "all"]), default="all", show_default=True)
@click.option("--force", is_flag=True, help="Replace an image folder made otherwise.")
def footage(data_dir: Path, videos: Path, split: str, force: bool) -> None:
    """Index a Pose2Mesh build's rows in Human3.6M's own videos as its images (nothing copied), so 'hipart detect
    --data', training on detections and 'hipart bench occlusion --level image' run on real frames."""
    from hipart.render.footage import index_footage

    manifest = index_footage(data_dir, videos, split, force, log=click.echo)
    counts = ", ".join(f"{n} {s}" for s, n in manifest["counts"].items())
    click.echo(f"images: {data_dir / 'images'} ({counts} frames in {len(manifest['units'])} videos)")

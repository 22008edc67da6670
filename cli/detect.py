"""`hipart detect`: parse arguments, call hipart.detect."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("detect")
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None,
              help="Dataset whose rendered images ('hipart data render') to detect. Default: data/default-<config>.")
@click.option("--config", "config_name", default="demo", show_default=True,
              help="Preset (tiny, demo, bench, paper, pretrained) or YAML file whose default dataset folder is used when --data "
                   "is not given.")
@click.option("--images", "images_dir", type=click.Path(path_type=Path), default=None,
              help="Image folder of that dataset, if not DATA/images.")
@click.option("--split", type=click.Choice(["train", "test", "all"]), default="all", show_default=True,
              help="Which rendered split(s) to detect; the adapter is fitted on train.")
@click.option("--videos", type=click.Path(path_type=Path), default=None,
              help="Instead: a folder of Human3.6M videos (S9/Videos/Directions 1.54138969.mp4 ...).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="With --videos: the VideoPose3D-layout archive to write. Default: data_2d_h36m_<detector>.npz.")
@click.option("--adapter", type=click.Path(path_type=Path), default=None,
              help="Joint adapter (.npz) to map the detector's keypoints to the 17 H36M joints. Default with --data: "
                   "fit it on the train split; with --videos: DATA/detections/<detector>/adapter.npz if there is "
                   "one, else the packaged adapter.")
@click.option("--every", type=int, default=1, show_default=True, help="With --videos: detect every n-th frame.")
@click.option("--detector", default="blazepose", show_default=True, help="The 2D detector (built in: blazepose).")
@click.option("--shard", default=None, metavar="i/N",
              help="Only every N-th image sequence (or video) starting at the i-th (array jobs).")
@click.option("--workers", type=int, default=1, show_default=True, help="Processes on this machine.")
@click.option("--package-adapter", is_flag=True,
              help="Detect nothing: copy the adapter of a finished 'hipart detect --data DATA' into the package "
                   "resources (hipart/resources/blazepose_h36m_adapter.npz) with its provenance, as the packaged "
                   "adapter that predict and bench 3dpw use when a run's dataset has none.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def detect(data_dir: Path | None, config_name: str, images_dir: Path | None, split: str, videos: Path | None,
           out: Path | None, adapter: Path | None, every: int, detector: str, shard: str | None, workers: int,
           package_adapter: bool, quiet: bool) -> None:
    """Find the 17 Human3.6M joints in images with a 2D detector (BlazePose), adapted to the dataset's joints.

    With --data: the rendered images of a dataset -> DATA/detections/<detector>/ (row-aligned train.npz and
    test.npz, a VideoPose3D-layout archive, the fitted adapter). With --videos: Human3.6M videos -> one archive.
    With --package-adapter: the dataset's fitted adapter becomes the packaged one (refit the shipped adapter with
    'hipart detect --data data/default-demo' then 'hipart detect --data data/default-demo --package-adapter').
    Needs the images extra: pip install -e '.[images]'."""
    from hipart.config import load_config
    from hipart.data.prepare import default_out
    from hipart.detect.dataset import detect_dataset, detections_dir
    from hipart.detect.packaged import describe_packaged, package_adapter as package
    from hipart.detect.videos import detect_videos
    from hipart.errors import HipartError
    from hipart.render.jobs import parse_shard

    parts = parse_shard(shard)
    data_dir = data_dir if data_dir is not None else default_out(load_config(config_name))
    if package_adapter:
        if videos is not None or adapter is not None:
            raise HipartError("--package-adapter copies the adapter fitted on --data's train renders; it takes "
                              "neither --videos nor --adapter")
        path, packaged = package(data_dir, detector)
        click.echo(f"packaged joint adapter: {path} ({path.stat().st_size:,} bytes), {describe_packaged(packaged)}")
        return
    if videos is not None:
        out = out if out is not None else Path(f"data_2d_h36m_{detector}.npz")
        path = detect_videos(videos, out, adapter, parts, workers, every, detector, progress=not quiet,
                             log=click.echo, data_dir=data_dir)
        if path is not None:
            click.echo(f"detections: {path}")
        return
    manifest = detect_dataset(data_dir, split, parts, workers, detector, images_dir, adapter, progress=not quiet,
                              log=click.echo)
    if manifest is not None:
        for name, s in manifest["splits"].items():
            click.echo(f"{name}: {s['detected']} of {s['images']} images with a person; against the rows: mean "
                       f"error {s['mean_error_px']} px, PCK@0.05 {s['pck_0.05']}, PCK@10px {s['pck_10px']}")
            if s.get("per_joint_error_px"):
                click.echo("  per joint (px): " + ", ".join(f"{j} {e:.2f}" for j, e in s["per_joint_error_px"].items()))
        click.echo(f"detections: {detections_dir(data_dir, detector)}")

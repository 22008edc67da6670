"""`hipart predict`: parse arguments, call hipart.predict."""

from __future__ import annotations

from pathlib import Path

import click

from hipart.models.fast import AUTO_EAGER_SECONDS


@click.command("predict")
@click.option("--run", type=click.Path(path_type=Path), default=None,
              help="Run folder from 'hipart train all' (msst/, hiarm/, lifter_hier/). Default: the pretrained weights "
                   "shipped in the package, trained on the default data's renders (synthetic bodies, not "
                   "Human3.6M; docs/inference.md).")
@click.option("--input", "inp", type=click.Path(path_type=Path), default=None,
              help="Keypoints: .npy/.npz of (N, 17, 2) px, a .json {keypoints, image_size}, VideoPose3D's 2D npz "
                   "(h36m); COCO-17 JSON from mmpose, ViTPose or YOLO-pose (coco); OpenPose BODY_25 / COCO-18 JSON, "
                   "a file or a folder of per-frame files (openpose). A keypoint file may hold several people: "
                   "every person of every frame is lifted, each row with its person_id and frame.")
@click.option("--format", "fmt", type=click.Choice(["coco", "openpose", "h36m"]), default=None,
              help="The --input's keypoint format. Default: detected from the file (arrays and ambiguous JSON are "
                   "h36m). COCO and OpenPose joints are mapped to Human3.6M's 17 (see docs/inference.md).")
@click.option("--image", "images", type=click.Path(path_type=Path), multiple=True,
              help="An image (or a folder of images); repeatable. The built-in detector (BlazePose) finds one person "
                   "per image.")
@click.option("--video", type=click.Path(path_type=Path), default=None,
              help="A video file; every frame is detected and lifted.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("preds.npz"), show_default=True,
              help="Output .npz (or .json): x_s, x_d, x_f (px) and X (N, 17, 3) root-relative mm; for images and "
                   "videos also detected, confidence, image_size (and file names); for COCO / OpenPose keypoints "
                   "confidence, person_id and frame. NaN where no person was found.")
@click.option("--image-size", type=int, nargs=2, default=None, metavar="W H",
              help="Keypoint input: image width and height in px (the lifter reads screen-normalized 2D).")
@click.option("--adapter", type=click.Path(path_type=Path), default=None,
              help="Joint adapter (.npz from 'hipart detect'). Default: the one fitted on the run's dataset if it has "
                   "one, else the packaged adapter (fitted on the default data's renders); the output says which.")
@click.option("--figures", type=click.Path(path_type=Path), default=None,
              help="Where the pictures go: a folder of PNGs for images (default <out>_figures/), an .mp4 for a "
                   "video (default <out>.mp4).")
@click.option("--no-figures", is_flag=True, help="Write the arrays only.")
@click.option("--device", default="auto", show_default=True, help="auto (cuda when present), cpu, cuda or cuda:N.")
@click.option("--compile/--no-compile", "compile_", default=None,
              help="Compile HiARM's decoding with torch.compile from the first batch (a failure is an error), or "
                   f"never. Default: compile once eager decoding has taken {AUTO_EAGER_SECONDS:.0f} s (about what "
                   "compiling costs on two CPU cores, so a short input never waits for the compiler) and fall back "
                   "to eager decoding with a warning if compiling fails.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def predict(run: Path, inp: Path | None, fmt: str | None, images: tuple[Path, ...], video: Path | None, out: Path,
            image_size: tuple[int, int] | None, adapter: Path | None, figures: Path | None, no_figures: bool,
            device: str, compile_: bool | None, quiet: bool) -> None:
    """2D keypoints, images or a video to hierarchical 2D (17/48/96 joints) and 3D poses with a trained run, or
    without --run the shipped pretrained weights.

    Images and videos need the images extra (pip install -e '.[images]'); BlazePose's landmarks are mapped to the
    17 joints by the run's dataset's joint adapter ('hipart data render' and 'hipart detect' on it fit one), else
    by the packaged one. BlazePose on images and video frames finds one person; a keypoint file (--input) may hold
    several, and every one is lifted."""
    from hipart.errors import HipartError
    from hipart.predict import predict_file, predict_images, predict_video
    from hipart.pretrained import describe, require_packaged

    if sum((inp is not None, bool(images), video is not None)) != 1:
        raise HipartError("give exactly one of --input (keypoints), --image (images) or --video")
    if fmt is not None and inp is None:
        raise HipartError("--format describes an --input keypoint file; images and videos need none")
    stem, compile = out.with_suffix(""), "auto" if compile_ is None else compile_
    if run is None:
        run = require_packaged()
        click.echo(describe(run))
    if inp is not None:
        arrays = predict_file(run, inp, out, tuple(image_size) if image_size else None, device, log=click.echo,
                              compile=compile, fmt=fmt)
        click.echo(f"predicted {sum(len(v) for k, v in arrays.items() if k.endswith('X'))} poses -> {out}")
    elif images:
        folder = None if no_figures else (figures or stem.with_name(f"{stem.name}_figures"))
        arrays = predict_images(run, list(images), out, folder, adapter, device, not quiet, click.echo, compile)
        click.echo(f"predicted {int(arrays['detected'].sum())} of {len(arrays['detected'])} images -> {out}"
                   + (f"; pictures in {folder}" if folder else ""))
    else:
        movie = None if no_figures else (figures or stem.with_suffix(".mp4"))
        arrays = predict_video(run, video, out, movie, adapter, device, progress=not quiet, log=click.echo,
                               compile=compile)
        click.echo(f"predicted {int(arrays['detected'].sum())} of {len(arrays['detected'])} frames -> {out}"
                   + (f"; picture video {movie}" if movie else ""))

"""`hipart predict`: parse arguments, call hipart.predict."""

from __future__ import annotations

from pathlib import Path

import click

from hipart.runs import DEMO_RUN


@click.command("predict")
@click.option("--run", type=click.Path(path_type=Path), default=DEMO_RUN, show_default=True,
              help="Run folder from 'hipart train all' (msst/, hiarm/, lifter_hier/).")
@click.option("--input", "inp", type=click.Path(path_type=Path), required=True,
              help="Keypoints: .npy/.npz of (N, 17, 2) px, a .json {keypoints, image_size}, or VideoPose3D's 2D npz.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("preds.npz"), show_default=True,
              help="Output .npz: x_s, x_d, x_f (px) and X (N, 17, 3) root-relative mm, per input group.")
@click.option("--image-size", type=int, nargs=2, default=None, metavar="W H",
              help="Image width and height in px (the lifter reads screen-normalized 2D).")
@click.option("--device", default="auto", show_default=True, help="auto (cuda when present), cpu, cuda or cuda:N.")
@click.option("--compile/--no-compile", "compile_", default=None,
              help="Compile HiARM's decoding with torch.compile from the first batch (a failure is an error), or "
                   "never. Default: compile once 8 batches of 1024 frames have been decoded (a short input does "
                   "not wait for the compiler) and fall back to eager decoding with a warning if compiling fails.")
def predict(run: Path, inp: Path, out: Path, image_size: tuple[int, int] | None, device: str,
            compile_: bool | None) -> None:
    """2D keypoints to hierarchical 2D (17/48/96 joints) and 3D poses with a trained run."""
    from hipart.predict import predict_file

    arrays = predict_file(run, inp, out, tuple(image_size) if image_size else None, device, log=click.echo,
                          compile="auto" if compile_ is None else compile_)
    frames = sum(len(v) for k, v in arrays.items() if k.endswith("X"))
    click.echo(f"predicted {frames} poses -> {out}")

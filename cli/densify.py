"""`hipart densify`: parse arguments, call hipart.densify."""

from __future__ import annotations

from pathlib import Path

import click

from hipart.runs import DEMO_RUN


@click.command("densify")
@click.option("--input", "inp", type=click.Path(path_type=Path), required=True,
              help="Sparse 2D keypoints: .npy of (N, 17, 2) pixels in Human3.6M order, or .npz holding one such "
                   "array (named keypoints or x_s).")
@click.option("--out", type=click.Path(path_type=Path), default=Path("dense.npz"), show_default=True,
              help="Output .npz: x_s (N, 17, 2), x_d (N, 48, 2), x_f (N, 96, 2) pixels and the tokens q_s, q_d.")
@click.option("--run", type=click.Path(path_type=Path), default=DEMO_RUN, show_default=True,
              help="Run folder with trained msst/ and hiarm/ stages (hipart train all).")
@click.option("--device", default="auto", show_default=True, help="auto (cuda when present), cpu, cuda or cuda:N.")
@click.option("--decoding", type=click.Choice(["fast", "cached", "uncached"]), default="fast", show_default=True,
              help="HiARM's decoding, all giving the same tokens: fast (static key/value cache, compiled once hot), "
                   "cached (eager, growing key/value cache) or uncached (eager, the whole sequence rerun every step: "
                   "the reference, slowest).")
def densify(inp: Path, out: Path, run: Path, device: str, decoding: str) -> None:
    """Densify sparse 2D poses: HiARM predicts the tokens, MSST decodes the 48 dense and 96 fine joints."""
    from hipart.densify import densify_file

    arrays = densify_file(run, inp, out, device, decoding)
    click.echo(f"densified {len(arrays['x_s'])} poses -> {out} (x_d {arrays['x_d'].shape[1]} joints, "
               f"x_f {arrays['x_f'].shape[1]} joints, pixels)")

"""Entry point: `hipart` and its command groups."""

from __future__ import annotations

import click

from hipart import __version__
from hipart_cli.bench import bench, report
from hipart_cli.coarsen import coarsen
from hipart_cli.common import HipartGroup
from hipart_cli.data import data
from hipart_cli.demo import demo
from hipart_cli.densify import densify
from hipart_cli.detect import detect
from hipart_cli.predict import predict
from hipart_cli.train import train


@click.group(name="hipart", cls=HipartGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hipart")
def cli() -> None:
    """HiPART toolkit: hierarchical 2D pose densification and 3D lifting for occluded human pose estimation.

    Every command runs with no arguments on the embedded default data and accepts paths to real data
    (Pose2Mesh Human3.6M, SMPL, VideoPose3D, 3DPW). See README.md for the data layout.
    """


cli.add_command(coarsen)
cli.add_command(data)
cli.add_command(train)
cli.add_command(densify)
cli.add_command(demo)
cli.add_command(predict)
cli.add_command(detect)
cli.add_command(bench)
cli.add_command(report)


def main() -> None:
    cli(prog_name="hipart")


if __name__ == "__main__":
    main()

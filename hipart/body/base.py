"""One interface for every body model, and the linear-skinning algebra that makes the fast path exact.

A body is a set of skinned points (its mesh vertices first, then any extra rigged points such as bone heads):

    point_p = sum_j  T_j · w_pj · [r_p + D_p · f, 1]

with T_j the skinning transform of bone j (rest pose -> posed, mm), w_pj the skinning weights, r_p the rest
position and D_p · f the corrective offsets that some models add per frame (SMPL: shape and pose blend shapes,
f = [betas, pose features]). Everything is linear in the per-(point, bone) terms ``w_pj·[r_p, 1]`` and
``w_pj·D_p``, so any linear pooling ``A`` of the points (cluster means, a joint regressor) can be folded into
those terms before skinning: ``(A·X)_kj = sum_p A_kp X_pj``. :class:`SkinnedRows` holds the terms of a set of
rows, :meth:`SkinnedRows.apply` skins them and :meth:`SkinnedRows.fold` pools them; the full mesh and the folded
161 joints go through the same ``apply``.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse
import torch

from hipart.errors import HipartError


@dataclass
class SkinnedRows:
    """Rows to skin, stored as (row, bone) pairs with their weighted homogeneous rest terms."""

    row: torch.Tensor  # (n,) long, output row of each pair
    bone: torch.Tensor  # (n,) long, bone of each pair
    X0: torch.Tensor  # (n, 4): w·[r, 1]
    D: torch.Tensor | None  # (n, 3, F): w·D, corrective directions, or None
    num_rows: int
    _Y: torch.Tensor | None = field(default=None, init=False, repr=False)  # apply()'s sparse rest matrix

    @classmethod
    def from_points(cls, rest: torch.Tensor, bone_index: torch.Tensor, bone_weight: torch.Tensor,
                    dirs: torch.Tensor | None = None) -> "SkinnedRows":
        """Points (P, 3) skinned by (P, k) bone indices and weights; zero weights are dropped."""
        P, k = bone_index.shape
        keep = bone_weight.reshape(-1) != 0
        row = torch.arange(P, device=rest.device).repeat_interleave(k)[keep]
        bone = bone_index.reshape(-1)[keep].long()
        w = bone_weight.reshape(-1)[keep].to(rest.dtype)
        X0 = torch.cat([rest[row], torch.ones_like(w)[:, None]], dim=1) * w[:, None]
        D = None if dirs is None else dirs[row] * w[:, None, None]
        return cls(row, bone, X0, D, P)

    @property
    def num_pairs(self) -> int:
        return int(self.row.numel())

    def apply(self, T: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        """Skinning transforms (B, J, 4, 4) [+ corrective features (B, F)] -> posed rows (B, num_rows, 3)."""
        B, J = T.shape[:2]
        # Rest terms as one sparse (rows, J*4) matrix times the stacked transforms: no (B, pairs, 3, 4) gather.
        Y = self._rest_matrix(J)
        Tt = T[:, :, :3, :].permute(1, 3, 0, 2).reshape(J * 4, B * 3).to(self.X0.dtype)
        rows = torch.sparse.mm(Y, Tt).reshape(self.num_rows, B, 3).permute(1, 0, 2)
        if self.D is not None:
            if features is None:
                raise HipartError("this body needs corrective features (shape/pose blend shapes) to skin")
            R = T[:, self.bone, :3, :3]  # (B, n, 3, 3)
            offsets = torch.einsum("ncf,bf->bnc", self.D, features.to(self.D.dtype))
            extra = torch.einsum("bnrc,bnc->bnr", R, offsets)
            rows = rows.clone().index_add_(1, self.row, extra)
        return rows.contiguous()

    def _rest_matrix(self, J: int) -> torch.Tensor:
        cached = self._Y
        if cached is None or cached.shape[1] != J * 4:
            cols = (self.bone[:, None] * 4 + torch.arange(4, device=self.bone.device)).reshape(-1)
            rows = self.row[:, None].expand(-1, 4).reshape(-1)
            Y = torch.sparse_coo_tensor(torch.stack([rows, cols]), self.X0.reshape(-1), (self.num_rows, J * 4),
                                        check_invariants=True)
            with warnings.catch_warnings():  # torch flags sparse CSR as beta; it is the fast layout for mm
                warnings.simplefilter("ignore", UserWarning)
                cached = Y.coalesce().to_sparse_csr()
            self._Y = cached
        return cached

    def fold(self, A: scipy.sparse.spmatrix | np.ndarray) -> "SkinnedRows":
        """Pool the rows with a (K, num_rows) matrix before skinning: exact, since skinning is linear in X0 and D."""
        A = scipy.sparse.csr_matrix(A, dtype=np.float64)
        if A.shape[1] != self.num_rows:
            raise HipartError(f"pooling matrix has {A.shape[1]} columns but the body has {self.num_rows} points")
        row, bone = self.row.cpu().numpy(), self.bone.cpu().numpy()
        J = int(bone.max()) + 1
        # (point, bone) pairs -> columns of a (num_rows, pairs) incidence; A @ incidence groups by (row k, pair).
        P_of_pair = scipy.sparse.csr_matrix((np.ones(len(row)), (row, np.arange(len(row)))),
                                            shape=(self.num_rows, len(row)))
        AP = (A @ P_of_pair).tocoo()  # (K, n): weight A_kp of each pair's point in output row k
        out_key = AP.row.astype(np.int64) * J + bone[AP.col]
        keys, inverse = np.unique(out_key, return_inverse=True)
        M = scipy.sparse.csr_matrix((AP.data, (inverse, AP.col)), shape=(len(keys), len(row)))
        dtype, device = self.X0.dtype, self.X0.device
        Mt = _to_torch_sparse(M, dtype, device)
        X0 = torch.sparse.mm(Mt, self.X0)
        D = None
        if self.D is not None:
            n, three, F = self.D.shape
            D = torch.sparse.mm(Mt, self.D.reshape(n, three * F)).reshape(-1, three, F)
        new_row = torch.as_tensor(keys // J, dtype=torch.long, device=device)
        new_bone = torch.as_tensor(keys % J, dtype=torch.long, device=device)
        return SkinnedRows(new_row, new_bone, X0, D, A.shape[0])


def _to_torch_sparse(M: scipy.sparse.csr_matrix, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    coo = M.tocoo()
    idx = torch.as_tensor(np.vstack([coo.row, coo.col]), dtype=torch.long)
    values = torch.as_tensor(coo.data, dtype=dtype)
    return torch.sparse_coo_tensor(idx, values, coo.shape, is_coalesced=True,
                                   check_invariants=True).to(device=device)


@dataclass
class BodyOutput:
    vertices: torch.Tensor  # (B, V, 3) mm
    joints: torch.Tensor  # (B, 17, 3) mm, Human3.6M order


class SkinnedBody(ABC):
    """A body model seen as skinned points; SMPL and the embedded Anny body implement it.

    ``shape`` is whatever identifies one person (SMPL: None, the betas travel per frame in ``pose``; Anny: a
    phenotype); ``pose`` is the model's own per-frame parameters. Units are mm, world frame z up.
    """

    name: str
    faces: np.ndarray  # (F, 3)
    num_vertices: int
    num_points: int  # vertices plus extra rigged points (bone heads)
    sparse_rows: scipy.sparse.csr_matrix  # (17, num_points): the Human3.6M joints as combinations of points

    @abstractmethod
    def skinning(self, shape: Any = None) -> SkinnedRows:
        """Skinning terms of all points for one person."""

    @abstractmethod
    def transforms(self, shape: Any, pose: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Per-frame skinning transforms (B, J, 4, 4) in mm and corrective features (B, F) or None."""

    @abstractmethod
    def template_vertices(self) -> np.ndarray:
        """Rest-pose vertices (V, 3) mm of the default person: the mesh the hierarchy is built on."""

    def template_sparse(self) -> np.ndarray:
        rest = self.skinning(self.default_shape())
        eye = torch.eye(4, dtype=rest.X0.dtype).expand(1, int(rest.bone.max()) + 1, 4, 4)
        points = rest.apply(eye, None if rest.D is None else torch.zeros(1, rest.D.shape[2], dtype=rest.X0.dtype))
        return self.sparse_rows @ points[0].numpy()

    def default_shape(self) -> Any:
        return None

    def forward(self, shape: Any, pose: Any) -> BodyOutput:
        """Full path: skin every point of the mesh, then regress the 17 joints."""
        T, features = self.transforms(shape, pose)
        points = self.skinning(shape).apply(T, features)
        S = _to_torch_sparse(self.sparse_rows, points.dtype, points.device)
        joints = torch.stack([torch.sparse.mm(S, p) for p in points])  # per frame: no copy of the whole batch
        return BodyOutput(points[:, : self.num_vertices], joints)

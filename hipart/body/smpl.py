"""SMPL forward in torch (shape blend shapes, pose blend shapes, linear blend skinning), batched."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse
import torch
from torch import nn

from hipart.body.base import SkinnedBody, SkinnedRows
from hipart.body.lbs import axis_angle_to_matrix, kinematic_chain, lbs, pose_features
from hipart.body.smpl_model import NUM_JOINTS, SMPLModelData
from hipart.errors import HipartError
from hipart.skeleton import H36M
from hipart.units import MM_PER_METRE


@dataclass
class SMPLOutput:
    vertices: torch.Tensor  # (B, V, 3), model units (metres for SMPL)
    joints: torch.Tensor  # (B, 24, 3), posed SMPL joints


class SMPL(nn.Module):
    def __init__(self, data: SMPLModelData, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.source = data.source
        self.parents = [int(p) for p in data.parents]
        self.num_betas = data.shapedirs.shape[2]
        J_reg = np.asarray(data.J_regressor.todense())

        def buf(name: str, value: np.ndarray) -> None:
            self.register_buffer(name, torch.as_tensor(value, dtype=dtype), persistent=False)

        buf("v_template", data.v_template)
        buf("shapedirs", data.shapedirs)
        buf("posedirs", data.posedirs)
        buf("weights", data.weights)
        buf("J_regressor", J_reg)
        buf("joint_template", J_reg @ data.v_template)
        buf("joint_shapedirs", np.einsum("jv,vcl->jcl", J_reg, data.shapedirs))
        self.register_buffer("faces", torch.as_tensor(data.faces, dtype=torch.long), persistent=False)

    @property
    def num_vertices(self) -> int:
        return self.v_template.shape[0]

    def rotations(self, pose: torch.Tensor) -> torch.Tensor:
        """Axis-angle pose (B, 72) or (B, 24, 3) -> rotation matrices (B, 24, 3, 3)."""
        if pose.dim() == 2 and pose.shape[1] == 3 * NUM_JOINTS:
            pose = pose.reshape(-1, NUM_JOINTS, 3)
        if pose.dim() != 3 or pose.shape[1:] != (NUM_JOINTS, 3):
            raise HipartError(f"SMPL pose has shape {tuple(pose.shape)}, expected (B, 72) or (B, 24, 3) axis-angle")
        return axis_angle_to_matrix(pose)

    def forward(self, betas: torch.Tensor | None = None, pose: torch.Tensor | None = None,
                rotmats: torch.Tensor | None = None, trans: torch.Tensor | None = None) -> SMPLOutput:
        """Pose with axis-angle `pose` or rotation matrices `rotmats` (B, 24, 3, 3); zeros when neither is given."""
        dtype, device = self.v_template.dtype, self.v_template.device
        if rotmats is None:
            if pose is None:
                B = 1 if betas is None else betas.shape[0]
                pose = torch.zeros(B, NUM_JOINTS * 3, dtype=dtype, device=device)
            rotmats = self.rotations(pose.to(dtype))
        B = rotmats.shape[0]
        if betas is None:
            betas = torch.zeros(B, self.num_betas, dtype=dtype, device=device)
        if betas.dim() != 2 or betas.shape[0] != B or betas.shape[1] > self.num_betas:
            raise HipartError(f"SMPL betas have shape {tuple(betas.shape)}, expected ({B}, <= {self.num_betas})")
        verts, joints = lbs(betas.to(dtype), rotmats.to(dtype), self.v_template, self.shapedirs, self.posedirs,
                            self.weights, self.joint_template, self.joint_shapedirs, self.parents)
        if trans is not None:
            verts, joints = verts + trans[:, None].to(dtype), joints + trans[:, None].to(dtype)
        return SMPLOutput(verts, joints)


@dataclass
class SMPLPose:
    """Per-frame SMPL parameters: betas (B, L), axis-angle pose (B, 72) and translation (B, 3) in metres."""

    betas: torch.Tensor
    pose: torch.Tensor
    trans: torch.Tensor | None = None


class SMPLBody(SkinnedBody):
    """SMPL behind the SkinnedBody interface (mm). Shape travels per frame in :class:`SMPLPose` (Pose2Mesh fits
    betas per frame), so ``skinning()`` does not depend on the person; its corrective features are
    [betas, pose features] and its directions [shapedirs, posedirs]. ``regressor`` (17, V) gives the H36M joints.
    """

    def __init__(self, data: SMPLModelData, regressor: np.ndarray | None, dtype: torch.dtype = torch.float64) -> None:
        self.smpl = SMPL(data, dtype=dtype)
        self.dtype = dtype
        self.name = f"SMPL ({data.source})"
        self.faces = np.asarray(data.faces, dtype=np.int64)
        self.num_vertices = self.num_points = int(data.v_template.shape[0])
        if regressor is not None and np.shape(regressor) != (H36M.num_joints, self.num_vertices):
            raise HipartError(f"H36M joint regressor has shape {np.shape(regressor)}; expected ({H36M.num_joints}, {self.num_vertices})")
        self.sparse_rows = scipy.sparse.csr_matrix(regressor if regressor is not None else (H36M.num_joints, self.num_vertices))
        self._skin: SkinnedRows | None = None

    def skinning(self, shape: Any = None) -> SkinnedRows:
        if self._skin is None:
            m = self.smpl
            V, J = self.num_vertices, len(m.parents)
            dirs = torch.cat([m.shapedirs, m.posedirs], dim=2) * MM_PER_METRE
            index = torch.arange(J).expand(V, J)
            self._skin = SkinnedRows.from_points(m.v_template * MM_PER_METRE, index, m.weights, dirs)
        return self._skin

    def transforms(self, shape: Any, pose: SMPLPose) -> tuple[torch.Tensor, torch.Tensor]:
        m = self.smpl
        rotmats = m.rotations(torch.as_tensor(pose.pose, dtype=self.dtype))
        B = rotmats.shape[0]
        betas = torch.as_tensor(pose.betas, dtype=self.dtype)
        if betas.dim() != 2 or betas.shape[0] != B or betas.shape[1] != m.num_betas:
            raise HipartError(f"SMPL betas have shape {tuple(betas.shape)}, expected ({B}, {m.num_betas})")
        rest_joints = m.joint_template + torch.einsum("bl,jcl->bjc", betas, m.joint_shapedirs)
        _, skin = kinematic_chain(rotmats, rest_joints, m.parents)
        skin = skin.clone()
        skin[..., :3, 3] = skin[..., :3, 3] * MM_PER_METRE
        if pose.trans is not None:
            skin[..., :3, 3] += torch.as_tensor(pose.trans, dtype=self.dtype)[:, None] * MM_PER_METRE
        return skin, torch.cat([betas, pose_features(rotmats)], dim=1)

    def template_vertices(self) -> np.ndarray:
        return self.smpl.v_template.numpy() * MM_PER_METRE

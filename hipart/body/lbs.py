"""Linear blend skinning shared by every body model (and by the folded fast path of the dataset builder).

The function is linear in the rest-pose rows it is given, so pooled rows (cluster means of vertices) skin to
exactly the pooled skinned vertices: that is what lets the dataset builder skin 161 joints instead of a mesh.
"""

from __future__ import annotations

import torch


def axis_angle_to_matrix(aa: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula: axis-angle vectors (..., 3) -> rotation matrices (..., 3, 3)."""
    angle = aa.norm(dim=-1, keepdim=True)
    axis = aa / (angle + 1e-8)  # a zero rotation gives an arbitrary axis scaled to zero; sin(0) kills it
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    K = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(*aa.shape[:-1], 3, 3)
    s, c = torch.sin(angle).unsqueeze(-1), torch.cos(angle).unsqueeze(-1)
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device)
    return eye + s * K + (1 - c) * (K @ K)


def pose_features(rotmats: torch.Tensor) -> torch.Tensor:
    """SMPL-style pose-corrective features: (R_j - I) flattened for every joint but the root, (B, 9*(J-1))."""
    eye = torch.eye(3, dtype=rotmats.dtype, device=rotmats.device)
    return (rotmats[:, 1:] - eye).flatten(1)


def kinematic_chain(rotmats: torch.Tensor, joints: torch.Tensor, parents: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Global joint transforms from local rotations (B, J, 3, 3) about rest joints (B, J, 3).

    Returns the posed joint positions (B, J, 3) and the skinning transforms (B, J, 4, 4) that map a rest-pose
    point to its pose under each joint.
    """
    B, J = joints.shape[:2]
    rel = joints.clone()
    rel[:, 1:] = joints[:, 1:] - joints[:, parents[1:]]
    local = torch.zeros(B, J, 4, 4, dtype=joints.dtype, device=joints.device)
    local[..., :3, :3] = rotmats
    local[..., :3, 3] = rel
    local[..., 3, 3] = 1
    chain = [local[:, 0]]
    for j in range(1, J):
        chain.append(chain[parents[j]] @ local[:, j])
    world = torch.stack(chain, dim=1)
    posed_joints = world[..., :3, 3]
    skin = world.clone()
    skin[..., :3, 3] = posed_joints - (world[..., :3, :3] @ joints.unsqueeze(-1)).squeeze(-1)
    return posed_joints, skin


def lbs(
    betas: torch.Tensor,
    rotmats: torch.Tensor,
    v_template: torch.Tensor,
    shapedirs: torch.Tensor,
    posedirs: torch.Tensor,
    weights: torch.Tensor,
    joint_template: torch.Tensor,
    joint_shapedirs: torch.Tensor,
    parents: list[int],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Skin N rest rows (vertices, or pooled vertices) and return (rows (B, N, 3), posed joints (B, J, 3)).

    betas (B, L); rotmats (B, J, 3, 3); v_template (N, 3); shapedirs (N, 3, L); posedirs (N, 3, P);
    weights (N, J); joint_template (J, 3) and joint_shapedirs (J, 3, L) give the rest joints (the joint
    regressor already applied, so the regressor need not see the full mesh).
    """
    L = betas.shape[1]
    v_shaped = v_template + torch.einsum("bl,ncl->bnc", betas, shapedirs[..., :L])
    rest_joints = joint_template + torch.einsum("bl,jcl->bjc", betas, joint_shapedirs[..., :L])
    v_posed = v_shaped + torch.einsum("bp,ncp->bnc", pose_features(rotmats), posedirs)
    posed_joints, skin = kinematic_chain(rotmats, rest_joints, parents)
    T = torch.einsum("nj,bjkl->bnkl", weights, skin)
    rows = (T[..., :3, :3] @ v_posed.unsqueeze(-1)).squeeze(-1) + T[..., :3, 3]
    return rows, posed_joints

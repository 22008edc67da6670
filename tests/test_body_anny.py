"""The embedded Anny body: our skinning against Anny's own forward, the fold, the H36M joint mapping."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
import torch

from hipart.body.anny_body import H36M_TO_ANNY, AnnyBody, model_cache_file
from hipart.body.lbs import axis_angle_to_matrix
from hipart.errors import HipartError
from hipart.skeleton import H36M


def random_pose(body: AnnyBody, batch: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    pose = body.identity_pose(batch)
    pose[:, 1:, :3, :3] = axis_angle_to_matrix(0.3 * torch.randn(batch, body.num_bones - 1, 3, generator=g,
                                                                   dtype=torch.float64))
    pose[:, 0, :3, 3] = torch.randn(batch, 3, generator=g, dtype=torch.float64) * 500
    return pose


def test_our_skinning_equals_anny_forward(anny_body):
    phenotype = {"gender": 0.9, "age": 0.75, "height": 0.45, "weight": 0.6}
    pose = random_pose(anny_body, 3, 0)
    ours = anny_body.forward(phenotype, pose)
    metres = pose.clone()
    metres[:, 0, :3, 3] /= 1000
    with torch.no_grad():
        ref = anny_body.model(pose_parameters=metres, phenotype_kwargs=phenotype)
    assert torch.allclose(ours.vertices, ref["vertices"] * 1000, atol=1e-6)
    heads = ref["bone_poses"][:, :, :3, 3] * 1000
    assert torch.allclose(ours.joints[:, H36M.index("LKnee")], heads[:, anny_body.bone("lowerleg01.L")], atol=1e-6)
    assert ours.vertices.shape == (3, 13348, 3) and len(anny_body.faces) == 26692


def test_fold_equals_full_mesh_then_pool(anny_body):
    V, P = anny_body.num_vertices, anny_body.num_points
    # 96 spatially coherent clusters: slabs of the template along its height, like HEM's (few bones each).
    membership = np.empty(V, dtype=np.int64)
    membership[np.argsort(anny_body.template_vertices()[:, 2], kind="stable")] = np.arange(V) * 96 // V
    A = scipy.sparse.csr_matrix((np.ones(V), (membership, np.arange(V))), shape=(96, P))
    A = scipy.sparse.diags(1 / np.asarray(A.sum(1)).ravel()) @ A
    A = scipy.sparse.vstack([A, anny_body.sparse_rows]).tocsr()
    shape = {"gender": 0.1, "height": 0.4}
    T, _ = anny_body.transforms(shape, random_pose(anny_body, 4, 1))
    full = anny_body.skinning(shape).apply(T)
    pooled_after = torch.stack([torch.as_tensor(A @ f.numpy()) for f in full])
    folded = anny_body.skinning(shape).fold(A)
    assert folded.num_rows == 96 + 17 and folded.num_pairs < anny_body.skinning(shape).num_pairs / 5
    assert torch.allclose(folded.apply(T), pooled_after, atol=1e-4)


def test_h36m_mapping_is_a_plausible_skeleton(anny_body):
    J = anny_body.template_sparse()
    idx = H36M.index
    # Left/right mirror each other about x = 0 (the template is symmetric), 1 mm.
    flip = H36M.flip_permutation()
    assert np.allclose(J[flip] * [-1, 1, 1], J, atol=1.0)
    # Vertical order of the midline joints.
    z = J[:, 2]
    assert z[idx("Pelvis")] < z[idx("Spine")] < z[idx("Thorax")] < z[idx("Nose")] < z[idx("Head")]
    assert z[idx("LAnkle")] < z[idx("LKnee")] < z[idx("LHip")]

    def length(a, b):
        return float(np.linalg.norm(J[idx(a)] - J[idx(b)]))

    thigh, shank = length("LHip", "LKnee"), length("LKnee", "LAnkle")
    upper, fore = length("LShoulder", "LElbow"), length("LElbow", "LWrist")
    # Segment lengths as fractions of stature after Winter (2009, after Drillis & Contini): thigh 0.245,
    # shank 0.246, upper arm 0.186, forearm 0.146. Ratios must agree within 20 %.
    for ours, ref in ((shank / thigh, 0.246 / 0.245), (fore / upper, 0.146 / 0.186), (upper / thigh, 0.186 / 0.245)):
        assert abs(ours / ref - 1) < 0.20, (ours, ref)
    assert set(H36M_TO_ANNY) == set(H36M.names)


def test_cache_location_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("HIPART_CACHE_DIR", str(tmp_path))
    assert model_cache_file().parent == tmp_path
    assert model_cache_file().suffix == ".safetensors"


def test_bad_pose_and_phenotype_are_clear_errors(anny_body):
    with pytest.raises(HipartError, match="expected"):
        anny_body.transforms(None, torch.zeros(2, 5, 4, 4))
    pose = anny_body.identity_pose(1)
    pose[0, 3, 0, 0] = float("nan")
    with pytest.raises(HipartError, match="NaN"):
        anny_body.transforms(None, pose)
    with pytest.raises(HipartError, match=r"\[0, 1\]"):
        anny_body.phenotype({"height": 1.5})
    with pytest.raises(HipartError, match="unknown"):
        anny_body.phenotype({"hairiness": 0.5})

import math
import pickle

import numpy as np
import pytest
import torch
from formats import L_ELBOW, L_HAND, L_WRIST, UnsafeReduce, make_smpl_arrays, write_smpl_pickle

from hipart.body.smpl import SMPL
from hipart.body.smpl_model import find_smpl_model, load_joint_regressor, load_smpl_model
from hipart.errors import HipartError


@pytest.fixture()
def model_path(tmp_path):
    return write_smpl_pickle(tmp_path / "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl", make_smpl_arrays())


def test_loader_reads_chumpy_pickle_without_chumpy(model_path):
    data = load_smpl_model(model_path)
    ref = make_smpl_arrays()
    np.testing.assert_array_equal(data.v_template, ref["v_template"])
    np.testing.assert_array_equal(data.posedirs, ref["posedirs"])
    np.testing.assert_array_equal(data.J_regressor.toarray(), ref["J_regressor"].toarray())
    assert data.parents.tolist() == [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]
    assert data.faces.dtype == np.int64 and data.num_vertices == 240


def test_find_model_by_gender(tmp_path, model_path):
    assert find_smpl_model(tmp_path, "neutral") == model_path
    with pytest.raises(HipartError, match="no male SMPL model"):
        find_smpl_model(tmp_path, "male")


def test_zero_pose_gives_template_plus_shape_blend(model_path):
    data = load_smpl_model(model_path)
    smpl = SMPL(data, dtype=torch.float64)
    betas = torch.tensor([[0.5, -1.0, 2.0, 0, 0, 0, 0, 0, 0, 1.0]], dtype=torch.float64)
    out = smpl(betas=betas)
    expected = data.v_template + np.einsum("l,vcl->vc", betas[0].numpy(), data.shapedirs)
    np.testing.assert_allclose(out.vertices[0].numpy(), expected, atol=1e-12)
    np.testing.assert_allclose(out.joints[0].numpy(), data.J_regressor @ expected, atol=1e-12)


def elbow_pose(angle):
    pose = torch.zeros(1, 72, dtype=torch.float64)
    pose[0, 3 * L_ELBOW + 2] = angle
    return pose


def test_elbow_rotation_moves_only_the_forearm_chain(model_path):
    data = load_smpl_model(model_path)
    smpl = SMPL(data, dtype=torch.float64)
    rest, bent = smpl(), smpl(pose=elbow_pose(math.pi / 2))
    moved = (bent.vertices - rest.vertices).norm(dim=-1)[0].numpy() > 1e-12
    chain = data.weights[:, [L_ELBOW, L_WRIST, L_HAND]].sum(axis=1) > 0
    assert moved.any()
    np.testing.assert_array_equal(moved, chain)


def test_elbow_rotation_hand_computed(tmp_path):
    arrays = make_smpl_arrays(pose_correctives=False)
    data = load_smpl_model(write_smpl_pickle(tmp_path / "SMPL_NEUTRAL.pkl", arrays))
    smpl = SMPL(data, dtype=torch.float64)
    out = smpl(pose=elbow_pose(math.pi / 2))
    J = data.J_regressor @ data.v_template
    Rz = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    only_elbow = np.flatnonzero(data.weights[:, L_ELBOW] == 1.0)
    assert len(only_elbow) > 0
    expected = (data.v_template[only_elbow] - J[L_ELBOW]) @ Rz.T + J[L_ELBOW]
    np.testing.assert_allclose(out.vertices[0, only_elbow].numpy(), expected, atol=1e-12)
    np.testing.assert_allclose(out.joints[0, L_WRIST].numpy(), Rz @ (J[L_WRIST] - J[L_ELBOW]) + J[L_ELBOW], atol=1e-12)


def test_batched_forward_equals_single_frames(model_path):
    smpl = SMPL(load_smpl_model(model_path), dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    betas, pose = torch.randn(3, 10, generator=g, dtype=torch.float64), 0.3 * torch.randn(3, 72, generator=g, dtype=torch.float64)
    trans = torch.randn(3, 3, generator=g, dtype=torch.float64)
    batch = smpl(betas=betas, pose=pose, trans=trans)
    for i in range(3):
        one = smpl(betas=betas[i:i + 1], pose=pose[i:i + 1], trans=trans[i:i + 1])
        torch.testing.assert_close(batch.vertices[i], one.vertices[0])
    with pytest.raises(HipartError, match="pose has shape"):
        smpl(pose=torch.zeros(2, 70))


def test_bad_smpl_files_are_named(tmp_path):
    corrupt = tmp_path / "SMPL_NEUTRAL.pkl"
    corrupt.write_bytes(b"\x80\x02}q\x00(U\x0bv_te")
    with pytest.raises(HipartError, match="SMPL_NEUTRAL.pkl: not a readable"):
        load_smpl_model(corrupt)
    arrays = make_smpl_arrays()
    arrays["posedirs"] = arrays["posedirs"][:, :, :200]
    with pytest.raises(HipartError, match=r"posedirs has shape \(240, 3, 200\)"):
        load_smpl_model(write_smpl_pickle(tmp_path / "short.pkl", arrays))
    arrays = make_smpl_arrays()
    del arrays["weights"]
    with pytest.raises(HipartError, match="missing keys"):
        load_smpl_model(write_smpl_pickle(tmp_path / "noweights.pkl", arrays, chumpy=False))
    with pytest.raises(HipartError, match="file not found"):
        load_smpl_model(tmp_path / "nothere.pkl")


def test_unsafe_pickle_is_refused(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"v_template": UnsafeReduce()}, protocol=2))
    with pytest.raises(HipartError, match="refusing to load"):
        load_smpl_model(path)


def test_joint_regressor_loader(tmp_path):
    reg = np.full((17, 240), 1 / 240)
    np.save(tmp_path / "J_regressor_h36m_correct.npy", reg)
    np.testing.assert_array_equal(load_joint_regressor(tmp_path / "J_regressor_h36m_correct.npy", 240), reg)
    with pytest.raises(HipartError, match=r"expected \(17, 6890\)"):
        load_joint_regressor(tmp_path / "J_regressor_h36m_correct.npy", 6890)


def test_smpl_body_interface_matches_smpl_and_folds_exactly(model_path):
    import scipy.sparse

    from hipart.body.smpl import SMPLBody, SMPLPose

    data = load_smpl_model(model_path)
    rng = np.random.default_rng(1)
    V = data.num_vertices
    regressor = rng.uniform(size=(17, V)) * (rng.uniform(size=(17, V)) < 0.05)
    regressor /= regressor.sum(1, keepdims=True)
    body = SMPLBody(data, regressor)
    B = 3
    pose = SMPLPose(torch.as_tensor(rng.normal(size=(B, 10))), torch.as_tensor(rng.normal(scale=0.4, size=(B, 72))),
                    torch.as_tensor(rng.normal(size=(B, 3))))
    out = body.forward(None, pose)
    ref = SMPL(data, dtype=torch.float64)(betas=pose.betas, pose=pose.pose, trans=pose.trans)
    assert torch.allclose(out.vertices, ref.vertices * 1000, atol=1e-6)
    assert torch.allclose(out.joints, torch.as_tensor(regressor) @ ref.vertices * 1000, atol=1e-6)
    # Fold cluster means (+ the regressor) into the model: equal to skinning the mesh, then pooling.
    membership = np.arange(V) % 20
    A = scipy.sparse.csr_matrix((np.full(V, 20 / V), (membership, np.arange(V))), shape=(20, V))
    A = scipy.sparse.vstack([A, body.sparse_rows]).tocsr()
    T, features = body.transforms(None, pose)
    folded = body.skinning().fold(A).apply(T, features)
    full = body.skinning().apply(T, features)
    assert torch.allclose(folded, torch.stack([torch.as_tensor(A @ f.numpy()) for f in full]), atol=1e-4)
    with pytest.raises(HipartError, match="expected \\(17, 240\\)"):
        SMPLBody(data, np.zeros((17, 10)))

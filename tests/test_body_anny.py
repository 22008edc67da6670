"""The embedded Anny body: our skinning against Anny's own forward, the fold, the H36M joint mapping, and the
rig's axial rotations."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
import torch

from hipart.body.anny_body import H36M_TO_ANNY, AnnyBody, model_cache_file
from hipart.body.anny_rig import AnnyRig
from hipart.body.lbs import axis_angle_to_matrix
from hipart.body.motion import DOFS, NEUTRAL, Motion
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


# -- the rig: axial rotations turn a limb about its own axis ------------------------------------------------
def posed(rig: AnnyRig, **angles: float) -> tuple[np.ndarray, np.ndarray]:
    """One frame of the template posed from anatomical angles (others neutral): vertices and bone heads, mm."""
    full = {name: np.array([float(angles.get(name, NEUTRAL.get(name, 0.0)))]) for name in DOFS}
    _, T = rig.pose(Motion("probe", full, np.zeros((1, 2)), np.zeros(1)))
    points = rig.body.skinning(None).apply(T)[0].numpy()
    return points[: rig.body.num_vertices], points[rig.body.num_vertices:]


def dominated_by(body: AnnyBody, labels: list[str]) -> np.ndarray:
    """Vertices whose largest skinning weight is on one of these bones."""
    skin = body.skinning(None)
    pairs = skin.row < body.num_vertices
    weight = np.zeros((body.num_vertices, body.num_bones))
    np.add.at(weight, (skin.row[pairs].numpy(), skin.bone[pairs].numpy()), skin.X0[pairs, 3].numpy())
    return np.isin(weight.argmax(1), [body.bone(label) for label in labels])


def chord(length: float, degrees: float) -> float:
    return 2 * length * np.sin(np.radians(degrees) / 2)


@pytest.fixture(scope="module")
def rig(anny_body):
    return AnnyRig(anny_body)


def test_humeral_rotation_turns_the_upper_arm_about_the_shoulder_elbow_axis(rig, anny_body):
    for side, medial_x in (("L", -1.0), ("R", 1.0)):
        wrist, elbow = anny_body.bone(f"wrist.{side}"), anny_body.bone(f"lowerarm01.{side}")
        upper_arm = dominated_by(anny_body, [f"upperarm01.{side}", f"upperarm02.{side}"])
        arm_down = {f"shoulder_abd_{side}": 0.0}
        # Elbow straight: the wrist lies on the humerus axis and stays; the upper-arm surface turns round it.
        V0, H0 = posed(rig, **arm_down, **{f"elbow_{side}": 0.0})
        V1, H1 = posed(rig, **arm_down, **{f"elbow_{side}": 0.0, f"shoulder_rot_{side}": 40.0})
        assert np.linalg.norm(H1[wrist] - H0[wrist]) < 0.5 and np.linalg.norm(H1[elbow] - H0[elbow]) < 0.5
        assert np.linalg.norm(V1[upper_arm] - V0[upper_arm], axis=1).max() > 25
        # Elbow bent 90 degrees: the forearm swings by the angle, the hand towards the belly (internal rotation).
        V0, H0 = posed(rig, **arm_down, **{f"elbow_{side}": 90.0})
        V1, H1 = posed(rig, **arm_down, **{f"elbow_{side}": 90.0, f"shoulder_rot_{side}": 40.0})
        forearm = np.linalg.norm(H0[wrist] - H0[elbow])
        moved = H1[wrist] - H0[wrist]
        assert abs(np.linalg.norm(moved) / chord(forearm, 40.0) - 1) < 0.01
        assert moved[0] * medial_x > 0.9 * np.linalg.norm(moved[:2])  # mostly across the body


def test_femoral_rotation_turns_the_thigh_about_the_hip_knee_axis(rig, anny_body):
    for side, medial_x in (("L", -1.0), ("R", 1.0)):
        hip, knee, ankle = (anny_body.bone(f"{b}.{side}") for b in ("upperleg01", "lowerleg01", "foot"))
        toe = anny_body.bone(f"toe3-1.{side}")
        thigh = dominated_by(anny_body, [f"upperleg01.{side}", f"upperleg02.{side}"])
        V0, H0 = posed(rig, **{f"knee_{side}": 0.0})
        V1, H1 = posed(rig, **{f"knee_{side}": 0.0, f"hip_rot_{side}": 30.0})
        assert np.linalg.norm(H1[knee] - H0[knee]) < 0.5 and np.linalg.norm(H1[ankle] - H0[ankle]) < 0.5
        assert np.linalg.norm(V1[thigh] - V0[thigh], axis=1).max() > 25
        assert (H1[toe] - H0[toe])[0] * medial_x > 30  # internal rotation turns the toes in
        # Knee bent 90 degrees: the shank swings out by the angle (internal rotation moves the foot outwards).
        V0, H0 = posed(rig, **{f"knee_{side}": 90.0})
        V1, H1 = posed(rig, **{f"knee_{side}": 90.0, f"hip_rot_{side}": 30.0})
        shank = np.linalg.norm(H0[ankle] - H0[knee])
        moved = H1[ankle] - H0[ankle]
        assert abs(np.linalg.norm(moved) / chord(shank, 30.0) - 1) < 0.01
        assert moved[0] * medial_x < -0.9 * np.linalg.norm(moved[:2])
        assert np.linalg.norm(H1[hip] - H0[hip]) < 0.5


def test_forearm_rotation_turns_hand_and_forearm_about_the_elbow_wrist_axis(rig, anny_body):
    for side, medial_x in (("L", -1.0), ("R", 1.0)):
        elbow, wrist = anny_body.bone(f"lowerarm01.{side}"), anny_body.bone(f"wrist.{side}")
        index, little = anny_body.bone(f"finger2-1.{side}"), anny_body.bone(f"finger5-1.{side}")
        bent = {f"shoulder_abd_{side}": 0.0, f"elbow_{side}": 90.0}
        V0, H0 = posed(rig, **bent)
        axis = (H0[wrist] - H0[elbow]) / np.linalg.norm(H0[wrist] - H0[elbow])

        def knuckles(H):  # little -> index knuckle, across the forearm axis
            v = H[index] - H[little]
            v = v - (v @ axis) * axis
            return v / np.linalg.norm(v)

        # Neutral is the mid position: the forearm points forward and the index side of the hand up.
        assert axis @ np.array([0.0, -1.0, 0.0]) > 0.99 and knuckles(H0)[2] > 0.99
        V1, H1 = posed(rig, **bent, **{f"forearm_rot_{side}": 60.0})
        assert np.linalg.norm(H1[wrist] - H0[wrist]) < 0.5 and np.linalg.norm(H1[elbow] - H0[elbow]) < 0.5
        turned = np.degrees(np.arccos(np.clip(knuckles(H0) @ knuckles(H1), -1, 1)))
        assert abs(turned - 60.0) < 0.5 and knuckles(H1)[0] * medial_x > 0.8  # pronation: index side inwards
        # The surface turns progressively, less near the elbow than near the wrist (radius rolling round ulna).
        length = np.linalg.norm(H0[wrist] - H0[elbow])
        rel = V0 - H0[elbow]
        along = rel @ axis / length
        radial0 = rel - np.outer(rel @ axis, axis)
        rel1 = V1 - H0[elbow]
        radial1 = rel1 - np.outer(rel1 @ axis, axis)
        forearm = dominated_by(anny_body, [f"lowerarm01.{side}", f"lowerarm02.{side}"])
        cos = (radial0 * radial1).sum(1) / np.linalg.norm(radial0, axis=1) / np.linalg.norm(radial1, axis=1)
        turn = np.degrees(np.arccos(np.clip(cos, -1, 1)))
        near, far = forearm & (along > 0.1) & (along < 0.35), forearm & (along > 0.65) & (along < 0.9)
        assert 20 < np.median(turn[near]) < 45 and 45 < np.median(turn[far]) < 60
        shrink = np.linalg.norm(radial1, axis=1) / np.linalg.norm(radial0, axis=1)
        assert shrink[forearm & (along > 0.1) & (along < 0.9)].min() > 0.9  # no candy-wrapper collapse


def test_pelvis_turn_with_opposite_femoral_rotation_keeps_the_feet_pointing_ahead(rig, anny_body):
    def toe_heading(H, side):  # degrees, positive turned to the left (+x) of straight ahead (-y)
        v = H[anny_body.bone(f"toe3-1.{side}")] - H[anny_body.bone(f"foot.{side}")]
        return np.degrees(np.arctan2(v[0], -v[1]))

    _, H0 = posed(rig)
    _, turned = posed(rig, pelvis_twist=10.0)
    _, kept = posed(rig, pelvis_twist=10.0, hip_rot_L=10.0, hip_rot_R=-10.0)
    for side in "LR":
        assert abs(toe_heading(turned, side) - toe_heading(H0, side) - 10.0) < 1.0  # the whole body turned left
        assert abs(toe_heading(kept, side) - toe_heading(H0, side)) < 1.0

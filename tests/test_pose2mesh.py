import json

import numpy as np
import pytest
import torch
from formats import make_smpl_arrays, write_pose2mesh_annotations, write_smpl_pickle

from hipart.body.smpl import SMPL
from hipart.body.smpl_model import load_smpl_model
from hipart.data.pose2mesh import Pose2MeshH36M, camera_space_mesh
from hipart.errors import HipartError


@pytest.fixture()
def ann(tmp_path):
    return write_pose2mesh_annotations(tmp_path / "data" / "Human36M" / "annotations")


def test_discovers_subjects_from_a_parent_folder(ann, tmp_path):
    db = Pose2MeshH36M(tmp_path / "data")
    assert db.dir == ann and db.subjects == [1, 9]
    cams = db.cameras(9)
    assert sorted(cams) == [1, 2, 3, 4]


def test_frames_follow_stride_and_smpl_availability(ann):
    db = Pose2MeshH36M(ann)
    frames = list(db.frames(subjects=[1], stride=5))
    # 12 frames per sequence, fits at 0, 5, 10; 2 actions x 2 subactions x 4 cameras
    assert len(frames) == 3 * 2 * 2 * 4
    assert {f.frame_idx for f in frames} == {0, 5, 10}
    assert all(f.smpl is not None and f.smpl.trans.shape == (3,) for f in frames)
    every = list(db.frames(subjects=[1], stride=1, require_smpl=False))
    assert len(every) == 12 * 2 * 2 * 4 and sum(f.smpl is None for f in every) == 9 * 2 * 2 * 4
    f = frames[0]
    assert f.action == "Directions" and f.camera.width == 1000 and f.camera.height == 1002
    raw = json.loads((ann / "Human36M_subject1_joint_3d.json").read_text())
    np.testing.assert_allclose(f.joints_world, raw[str(f.action_idx)][str(f.subaction_idx)][str(f.frame_idx)])
    np.testing.assert_allclose(f.joints_cam, f.joints_world @ f.camera.R.T + f.camera.t)


def test_camera_space_mesh_is_the_world_mesh_seen_by_the_camera(ann, tmp_path):
    smpl = SMPL(load_smpl_model(write_smpl_pickle(tmp_path / "SMPL_NEUTRAL.pkl", make_smpl_arrays())), torch.float64)
    frames = list(Pose2MeshH36M(ann).frames(subjects=[9], stride=5))[:6]
    frames = [f for f in frames if f.cam_idx == frames[0].cam_idx]
    cam = frames[0].camera
    verts, joints = camera_space_mesh(smpl, [f.smpl for f in frames], cam.R, cam.t, clamp_shape=False)
    # Pose2Mesh's root-rotation trick equals rigidly moving the world mesh SMPL(θ, β) + trans into the camera.
    world = smpl(betas=torch.as_tensor(np.stack([f.smpl.shape for f in frames])),
                 pose=torch.as_tensor(np.stack([f.smpl.pose for f in frames])),
                 trans=torch.as_tensor(np.stack([f.smpl.trans for f in frames])))
    expected = cam.world_to_camera(world.vertices.numpy() * 1000.0)
    np.testing.assert_allclose(verts.numpy(), expected, atol=1e-6)
    np.testing.assert_allclose(joints.numpy(), cam.world_to_camera(world.joints.numpy() * 1000.0), atol=1e-6)


def test_missing_and_corrupt_files_are_named(ann, tmp_path):
    (ann / "Human36M_subject9_camera.json").unlink()
    with pytest.raises(HipartError, match="Human36M_subject9_camera.json: file not found"):
        list(Pose2MeshH36M(ann).frames(subjects=[9]))
    (ann / "Human36M_subject1_joint_3d.json").write_text("{not json")
    with pytest.raises(HipartError, match="joint_3d.json: not valid JSON"):
        list(Pose2MeshH36M(ann).frames(subjects=[1]))
    with pytest.raises(HipartError, match="no Human36M_subject"):
        Pose2MeshH36M(tmp_path / "data" / "Human36M" / "images" if (tmp_path / "x").mkdir() else tmp_path / "x")
    with pytest.raises(HipartError, match="no annotations for subject S5"):
        list(Pose2MeshH36M(ann).frames(subjects=[5]))


def test_wrong_joint_shape_is_named(ann):
    path = ann / "Human36M_subject1_joint_3d.json"
    raw = json.loads(path.read_text())
    raw["2"]["1"]["0"] = raw["2"]["1"]["0"][:16]
    path.write_text(json.dumps(raw))
    with pytest.raises(HipartError, match=r"has shape \(16, 3\), expected \(17, 3\)"):
        list(Pose2MeshH36M(ann).frames(subjects=[1]))

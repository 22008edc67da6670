import numpy as np
import pytest
import torch

from hipart.camera import (
    Camera,
    camera_to_world,
    denormalize_pixels,
    image_coordinates,
    load_h36m_cameras,
    normalize_pixels,
    normalize_screen_coordinates,
    project_distorted,
    project_pinhole,
    qinverse,
    qrot,
    quat_to_matrix,
    world_to_camera,
)
from hipart.errors import HipartError


@pytest.fixture(scope="module")
def cams():
    return load_h36m_cameras()


def test_packaged_calibration_has_four_cameras_per_subject(cams):
    assert sorted(cams) == ["S1", "S11", "S5", "S6", "S7", "S8", "S9"]
    assert all(len(v) == 4 for v in cams.values())
    c = cams["S1"][0]
    assert c.id == "54138969" and (c.width, c.height) == (1000, 1002)


def test_quaternion_gives_the_published_rotation(cams):
    # World->camera rotation of S1 / camera 54138969 as tabulated in the H36M camera files (Martinez et al.).
    R_ref = np.array([[-0.9153617321513369, 0.40180836633680234, 0.02574754463350265],
                      [0.051548117060134555, 0.1803735689384521, -0.9822464900705729],
                      [-0.399319034032262, -0.8977836111057917, -0.185819527201491]])
    c = cams["S1"][0]
    np.testing.assert_allclose(c.R, R_ref, atol=1e-6)
    np.testing.assert_allclose(c.center, [1841.1070, 4955.2847, 1563.4454], atol=1e-3)
    for cam in cams["S9"]:
        np.testing.assert_allclose(cam.R @ cam.R.T, np.eye(3), atol=1e-10)
        assert np.linalg.det(cam.R) == pytest.approx(1.0)


def test_quaternion_helpers_agree_with_matrices():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(5, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    v = rng.normal(size=(5, 3))
    np.testing.assert_allclose(qrot(q, v), np.einsum("bij,bj->bi", quat_to_matrix(q), v), atol=1e-12)
    np.testing.assert_allclose(qrot(qinverse(q), qrot(q, v)), v, atol=1e-12)


def test_world_camera_round_trip_numpy_and_torch(cams):
    c = cams["S11"][2]
    X = np.random.default_rng(1).normal(scale=1000, size=(3, 17, 3))
    Xc = c.world_to_camera(X)
    assert isinstance(Xc, np.ndarray) and Xc.shape == X.shape
    np.testing.assert_allclose(c.camera_to_world(Xc), X, atol=1e-8)
    Xt = torch.as_tensor(X, dtype=torch.float64)
    out = world_to_camera(Xt, c.R, c.t)
    assert isinstance(out, torch.Tensor)
    np.testing.assert_allclose(out.numpy(), Xc, atol=1e-9)
    # the camera centre maps to the camera origin
    np.testing.assert_allclose(c.world_to_camera(c.center[None]), [[0, 0, 0]], atol=1e-6)
    # batched per-frame extrinsics
    Rb, tb = np.stack([c.R, cams["S1"][0].R]), np.stack([c.t, cams["S1"][0].t])
    both = world_to_camera(X[:2], Rb, tb)
    np.testing.assert_allclose(both[1], cams["S1"][0].world_to_camera(X[1]), atol=1e-8)
    np.testing.assert_allclose(camera_to_world(both, Rb, tb), X[:2], atol=1e-8)


def test_pinhole_known_answer_and_distortion_reduces_to_pinhole():
    f, c = np.array([1000.0, 1100.0]), np.array([500.0, 400.0])
    X = np.array([[0.0, 0.0, 3000.0], [300.0, -600.0, 3000.0]])
    np.testing.assert_allclose(project_pinhole(X, f, c), [[500.0, 400.0], [600.0, 180.0]])
    np.testing.assert_allclose(project_distorted(X, f, c, np.zeros(3), np.zeros(2)), project_pinhole(X, f, c))


def test_distortion_hand_computed():
    f, c = np.array([1000.0, 1000.0]), np.array([500.0, 500.0])
    k, p = np.array([0.1, 0.01, 0.001]), np.array([0.002, -0.003])
    X = np.array([[200.0, 100.0, 1000.0]])  # u = (0.2, 0.1)
    r2 = 0.05
    radial = 1 + 0.1 * r2 + 0.01 * r2**2 + 0.001 * r2**3
    tan = 0.002 * 0.2 - 0.003 * 0.1
    expected = 1000 * (np.array([0.2, 0.1]) * (radial + tan) + p * r2) + 500
    np.testing.assert_allclose(project_distorted(X, f, c, k, p)[0], expected, rtol=1e-12)


def test_camera_project_uses_distortion_only_when_asked(cams):
    c = cams["S9"][1]
    Xc = np.array([[400.0, 300.0, 4000.0]])
    assert not np.allclose(c.project(Xc), c.project(Xc, distort=False))
    np.testing.assert_allclose(c.project(Xc, distort=False), project_pinhole(Xc, c.f, c.c))


def test_screen_normalization_round_trip():
    x = np.array([[0.0, 0.0], [1000.0, 1002.0], [500.0, 501.0]])
    n = normalize_screen_coordinates(x, 1000, 1002)
    np.testing.assert_allclose(n[0], [-1.0, -1.002])
    np.testing.assert_allclose(n[1], [1.0, 1.002])
    np.testing.assert_allclose(image_coordinates(n, 1000, 1002), x, atol=1e-12)


def test_per_frame_pixel_normalization_known_answers():
    # VideoPose3D's x / w * 2 - [1, h / w], each frame with its own image size (w, h)
    x = np.array([[[0.0, 0.0], [500.0, 501.0], [1000.0, 1002.0], [250.0, 0.0]],   # a 1000 x 1002 image
                  [[50.0, 50.0], [0.0, 100.0], [100.0, 0.0], [25.0, 75.0]]])     # a 100 x 100 image
    size = np.array([[1000.0, 1002.0], [100.0, 100.0]])
    expected = np.array([[[-1.0, -1.002], [0.0, 0.0], [1.0, 1.002], [-0.5, -1.002]],
                         [[0.0, 0.0], [-1.0, 1.0], [1.0, -1.0], [-0.5, 0.5]]])
    np.testing.assert_allclose(normalize_pixels(x, size), expected, atol=1e-12)
    np.testing.assert_allclose(denormalize_pixels(expected, size), x, atol=1e-9)
    t = normalize_pixels(torch.tensor(x, dtype=torch.float32), torch.tensor(size, dtype=torch.float32))
    np.testing.assert_allclose(t.numpy(), expected, atol=1e-6)
    # the same as the fixed-size function where the sizes agree
    np.testing.assert_allclose(normalize_pixels(x[:1], size[:1])[0], normalize_screen_coordinates(x[0], 1000, 1002))


def test_bad_camera_input_is_a_clear_error(tmp_path):
    with pytest.raises(HipartError, match="shape"):
        Camera(R=np.eye(2), t=np.zeros(3), f=[1, 1], c=[0, 0], width=10, height=10)
    with pytest.raises(HipartError, match="NaN"):
        Camera(R=np.eye(3), t=[0, np.nan, 0], f=[1, 1], c=[0, 0], width=10, height=10)
    bad = tmp_path / "cams.json"
    bad.write_text('{"intrinsics": []}')
    with pytest.raises(HipartError, match="calibration"):
        load_h36m_cameras(bad)
    with pytest.raises(HipartError, match="not found"):
        load_h36m_cameras(tmp_path / "missing.json")

import numpy as np
import pytest
import torch

from hipart.errors import HipartError
from hipart.metrics import mean_error_2d, mpjpe, n_mpjpe, p_mpjpe, pck, per_action_table


def random_rotation(rng):
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    return q * np.sign(np.linalg.det(q))


def test_identical_poses_have_zero_error():
    x = np.random.default_rng(0).normal(size=(4, 17, 3))
    assert mpjpe(x, x, reduce=True) == 0.0
    assert p_mpjpe(x, x, reduce=True) == pytest.approx(0.0, abs=1e-9)


def test_mpjpe_known_answer_and_types():
    gt = np.zeros((2, 17, 3))
    pred = gt + [3.0, 4.0, 0.0]
    np.testing.assert_allclose(mpjpe(pred, gt), [5.0, 5.0])
    out = mpjpe(torch.as_tensor(pred), torch.as_tensor(gt))
    assert isinstance(out, torch.Tensor) and torch.allclose(out, torch.full((2,), 5.0, dtype=torch.float64))
    assert mean_error_2d(pred[..., :2], gt[..., :2], reduce=True) == pytest.approx(5.0)


def test_p_mpjpe_removes_rotation_scale_translation():
    rng = np.random.default_rng(1)
    gt = rng.normal(size=(6, 17, 3)) * 300
    pred = np.stack([1.7 * g @ random_rotation(rng).T + rng.normal(size=3) * 100 for g in gt])
    assert mpjpe(pred, gt, reduce=True) > 100
    assert p_mpjpe(pred, gt, reduce=True) == pytest.approx(0.0, abs=1e-8)


def test_p_mpjpe_never_uses_a_reflection():
    rng = np.random.default_rng(2)
    gt = rng.normal(size=(1, 17, 3)) * 300
    mirrored = gt * [-1, 1, 1]  # a reflection cannot be undone by a proper rotation
    assert p_mpjpe(mirrored, gt, reduce=True) > 1.0


def test_n_mpjpe_removes_scale_only():
    rng = np.random.default_rng(3)
    gt = rng.normal(size=(3, 17, 3)) * 300
    assert n_mpjpe(0.5 * gt, gt, reduce=True) == pytest.approx(0.0, abs=1e-9)
    # a shift is not a scale: two joints at x = +-100 lifted by 50 in z. The best scale is
    # s = <p, g> / <p, p> = 20000 / 25000 = 0.8, leaving (-+20, 0, 40) at each joint: sqrt(2000) mm
    g = np.array([[[100.0, 0, 0], [-100.0, 0, 0]]])
    assert n_mpjpe(g + [0, 0, 50.0], g, reduce=True) == pytest.approx(np.sqrt(2000.0))


def test_pck_counts_joints_within_threshold():
    gt = np.zeros((1, 4, 3))
    pred = np.array([[[0, 0, 100.0], [0, 0, 149.0], [0, 0, 151.0], [0, 0, 500.0]]])
    np.testing.assert_allclose(pck(pred, gt), [0.5])
    assert pck(pred, gt, threshold=1000, reduce=True) == 1.0


def test_shape_mismatch_is_refused():
    with pytest.raises(HipartError, match="differs"):
        mpjpe(np.zeros((2, 17, 3)), np.zeros((2, 16, 3)))


def test_per_action_average_is_the_mean_over_actions_not_frames():
    actions = np.array(["Walking"] * 3 + ["Eating"])
    errors = np.array([10.0, 20.0, 30.0, 100.0])
    table = per_action_table({"MPJPE": errors}, actions)
    assert list(table.index) == ["Eating", "Walking", "Average"]
    assert table.loc["Walking", "MPJPE"] == 20.0 and table.loc["Eating", "MPJPE"] == 100.0
    assert table.loc["Average", "MPJPE"] == 60.0  # not the frame mean 40
    assert table.loc["Average", "frames"] == 4 and table.loc["Walking", "frames"] == 3
    with pytest.raises(HipartError, match="action labels"):
        per_action_table({"MPJPE": errors[:3]}, actions)

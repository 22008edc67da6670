"""The keypoint occlusion model (hipart.occlusion): which joints a mask or a crop hides, what a detector reports for
them, and fitting its error scale to real detections."""

from __future__ import annotations

import numpy as np
import pytest
from formats import write_videopose3d

from hipart.data.videopose3d import paired_detections
from hipart.errors import HipartError
from hipart.occlusion import OcclusionModel, calibrate_error_scale, crop_occlusion, mask_occlusion, person_boxes


def uniform_points(n: int = 400, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 100, size=(n, 17, 2))


def test_mask_hides_about_the_ratio_of_uniform_points():
    x = uniform_points()
    for ratio in (0.2, 0.5, 0.8):
        hidden = mask_occlusion(x, ratio, np.random.default_rng(1))
        assert abs(hidden.mean() - ratio) < 0.05


def test_crop_removes_the_right_band():
    x = np.array([[[10.0, 50.0], [50.0, 10.0], [90.0, 50.0], [50.0, 90.0], [50.0, 50.0]]])
    box = person_boxes(x)[0]
    assert np.allclose(box, [2, 2, 98, 98])  # padded by 10 % of the 80 px extent
    expected = {0: [0], 1: [2], 2: [1], 3: [3]}  # left, right, top, bottom bands of 30 %
    for side, joints in expected.items():
        hidden, _ = crop_occlusion(x, 0.3, np.random.default_rng(0), sides=np.array([side]))
        assert np.flatnonzero(hidden[0]).tolist() == joints


def test_same_seed_same_occluded_inputs():
    x = uniform_points(50)
    model = OcclusionModel()
    a, ha = model.mask(x, 0.4, np.random.default_rng(5))
    b, hb = model.mask(x, 0.4, np.random.default_rng(5))
    assert np.array_equal(a, b) and np.array_equal(ha, hb)
    assert np.array_equal(a[~ha], x[~ha]) and not np.allclose(a[ha], x[ha])
    with pytest.raises(HipartError, match="ratio"):
        mask_occlusion(x, 1.5, np.random.default_rng(0))


def test_calibration_recovers_a_known_error_scale(tmp_path):
    _, truth_path, _, truth = write_videopose3d(tmp_path / "gt")
    detections, expected = {}, []
    for s, actions in truth.items():
        detections[s] = {}
        for a, cams in actions.items():
            detections[s][a] = []
            for cam in cams:
                det = cam.copy()
                diag = np.linalg.norm(np.diff(person_boxes(cam.astype(np.float64)).reshape(-1, 2, 2), axis=1)[:, 0],
                                      axis=-1)
                det[:, 3, 0] += (0.2 * diag).astype(np.float32)  # joint 3 fails by 0.2 diagonals along x
                detections[s][a].append(det[:-2])  # the detector archive is 2 frames shorter: trimmed
                expected.append(np.full(len(cam) - 2, 0.2))
    det_path = tmp_path / "data_2d_h36m_cpn_ft_h36m_dbb.npz"
    meta = {"layout_name": "h36m", "num_joints": 17, "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]}
    np.savez_compressed(det_path, positions_2d=detections, metadata=meta)
    det, gt = paired_detections(str(det_path), str(truth_path))
    assert det.shape == gt.shape == (sum(map(len, expected)), 17, 2)
    fit = calibrate_error_scale(det, gt)
    # one joint of 17 failed, by (0.2, 0) diagonals: per-axis RMS 0.2 / sqrt(2)
    assert fit["failed_fraction"] == pytest.approx(1 / 17)
    assert fit["error_scale"] == pytest.approx(0.2 / np.sqrt(2), rel=1e-5)
    with pytest.raises(HipartError, match="identical"):
        calibrate_error_scale(gt, gt)

"""The keypoint occlusion model (hipart.occlusion): which joints a mask or a crop hides, what a detector reports for
them, and fitting its error scale to real detections."""

from __future__ import annotations

import numpy as np
import pytest
from formats import write_videopose3d

from hipart.data.videopose3d import paired_detections
from hipart.errors import HipartError
from hipart.bench.occlusion import setting_rng
from hipart.occlusion import (SIDES, Occluders, OcclusionModel, box_diagonals, calibrate_error_scale, crop_occlusion,
                              draw_occluders, fit_keypoint_model, hidden_joints, mask_occlusion, occlude_image,
                              outside_image, person_boxes, truncated_frames)
from hipart.training.inputs import hold_confidence, hold_missing


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


# ---------------------------------------------------------------- image level


def test_a_crop_removes_the_band_beyond_its_cut_and_nothing_else():
    image = np.ones((80, 100, 3), np.uint8)
    box = np.array([10.0, 20.0, 90.0, 60.0])  # 80 wide, 40 high
    for side, check in ((0, lambda o: (o[:, :30] == 0).all() and (o[:, 30:] == 1).all()),     # x < 10 + 0.25 * 80
                        (1, lambda o: (o[:, 71:] == 0).all() and (o[:, :71] == 1).all()),     # x > 90 - 20
                        (2, lambda o: (o[:30] == 0).all() and (o[30:] == 1).all()),           # y < 20 + 0.25 * 40
                        (3, lambda o: (o[51:] == 0).all() and (o[:51] == 1).all())):          # y > 60 - 10
        occ = Occluders("crop", 0.25, sides=np.array([side]))
        assert check(occlude_image(image, box, occ, 0)), SIDES[side]
    assert (occlude_image(image, box, Occluders("crop", 0.0, sides=np.array([0])), 0) == 1).all()


def test_masked_pixels_are_exactly_where_joints_count_as_hidden():
    rng = np.random.default_rng(0)
    image = np.full((400, 300, 3), 200, np.uint8)
    boxes = np.array([[40.0, 50.0, 260.0, 370.0]])
    occ = draw_occluders("mask", 0.4, 1, setting_rng_for_test())
    out = occlude_image(image, boxes[0], occ, 0)
    assert occ.cells.sum() == round(0.4 * 64)
    points = rng.integers([0, 0], [300, 400], size=(1, 500, 2)).astype(float)  # pixel centres, in and out of the box
    hidden = hidden_joints(points, boxes, occ)[0]
    black = out[points[0, :, 1].astype(int), points[0, :, 0].astype(int), 0] == 0
    assert hidden.any() and np.array_equal(hidden, black)
    covered_area = (out[..., 0] == 0).sum() / (220 * 320)
    assert abs(covered_area - 0.4) < 0.02  # cells are whole pixels


def test_a_frame_is_truncated_by_a_joint_outside_the_image_or_beyond_a_crops_cut():
    size = np.array([100, 80])  # width, height: the picture spans [-0.5, 99.5) x [-0.5, 79.5)
    box = np.array([10.0, 20.0, 90.0, 60.0])  # a bottom crop of 0.25 cuts at y > 60 - 0.25 * 40 = 50
    x = np.full((6, 17, 2), [50.0, 40.0])  # every joint in the picture, above the cut
    x[1, 3] = (50.0, 55.0)  # below the cut
    x[2, 13] = (120.0, 40.0)  # beyond the right edge
    x[3, 10] = (50.0, -0.6)  # above the top edge
    x[4, 0], x[4, 1] = (-0.5, -0.5), (99.4, 79.4)  # on the first and the last pixel; the last lies below the cut
    x[5, 6] = (99.5, 40.0)  # just beyond the last pixel
    sizes, boxes = np.tile(size, (6, 1)), np.tile(box, (6, 1))
    occ = Occluders("crop", 0.25, sides=np.full(6, 3))
    cut = hidden_joints(x, boxes, occ)
    assert np.flatnonzero(cut.any(axis=1)).tolist() == [1, 4]
    assert truncated_frames(x, sizes, cut).tolist() == [False, True, True, True, True, True]
    assert truncated_frames(x, sizes).tolist() == [False, False, True, True, False, True]  # clean, or a mask
    assert not outside_image(x[4], size).any() and np.flatnonzero(outside_image(x[5], size)).tolist() == [6]
    # the joints counted as cut off lie exactly on the band occlude_image paints
    image = occlude_image(np.ones((80, 100, 3), np.uint8), box, occ, 0)
    inside = ~outside_image(x, sizes)
    u, v = np.round(x[inside]).astype(int).T
    assert np.array_equal(image[v, u, 0] == 0, cut[inside])


def setting_rng_for_test():
    return setting_rng(7, "mask", 0.4)


def test_the_same_seed_gives_the_same_occluders_and_another_seed_others():
    a = draw_occluders("mask", 0.6, 5, setting_rng(0, "mask", 0.6))
    b = draw_occluders("mask", 0.6, 5, setting_rng(0, "mask", 0.6))
    c = draw_occluders("mask", 0.6, 5, setting_rng(1, "mask", 0.6))
    assert np.array_equal(a.cells, b.cells) and not np.array_equal(a.cells, c.cells)
    assert np.array_equal(draw_occluders("crop", 0.3, 9, setting_rng(0, "crop", 0.3)).sides,
                          draw_occluders("crop", 0.3, 9, setting_rng(0, "crop", 0.3)).sides)


def test_fitting_the_keypoint_model_recovers_known_miss_rates_and_scales():
    rng = np.random.default_rng(2)
    truth = rng.uniform(100, 500, size=(400, 17, 2))
    diag = box_diagonals(person_boxes(truth))
    hidden = np.zeros((400, 17), bool)
    hidden[:, 3] = True  # the right ankle is always hidden
    hidden[:200, 5] = True  # the left knee half the time
    detected = truth.copy()
    detected[:100, 3, 0] += 0.3 * diag[:100]  # a quarter of the hidden ankles missed by 0.3 diagonals along x
    found = np.ones(400, bool)
    found[399] = False  # a frame without any detection: all its hidden joints count as missed
    fit = fit_keypoint_model(np.nan_to_num(detected), truth, hidden, found, "test")
    assert fit.miss_rate[3] == pytest.approx(101 / 400)
    assert fit.miss_scale[3] == pytest.approx(0.3 / np.sqrt(2), rel=1e-6)
    assert fit.miss_rate[5] == 0.0 and fit.hit_scale[5] == 0.0
    # a joint never hidden gets the values pooled over every hidden joint: (101 + 0) misses of 600 hidden
    assert fit.miss_rate[0] == pytest.approx(101 / 600) and fit.miss_scale[0] == pytest.approx(fit.miss_scale[3])
    with pytest.raises(HipartError, match="no joint is hidden"):
        fit_keypoint_model(detected, truth, np.zeros((400, 17), bool), found, "test")


def test_keypoint_model_parameters_are_checked_and_round_trip():
    model = OcclusionModel.fitted()
    assert len(model.miss_rate) == 17 and OcclusionModel.from_dict(model.to_dict()) == model
    with pytest.raises(HipartError, match="miss_rate"):
        OcclusionModel(miss_rate=(1.5,) * 17)
    with pytest.raises(HipartError, match="positive number"):
        OcclusionModel.uniform(-1.0)
    # with miss rate 0 and hit scale 0 hidden joints stay where they are
    x = np.random.default_rng(0).uniform(0, 100, size=(20, 17, 2))
    still = OcclusionModel((0.0,) * 17, (0.1,) * 17, (0.0,) * 17)
    assert np.array_equal(still.occlude(x, "mask", 0.5, np.random.default_rng(0))[0], x)


def test_a_frame_without_a_detection_is_held_and_reported_not_dropped():
    x = np.zeros((6, 17, 2), np.float32)
    x[:, :, 0] = np.arange(6)[:, None]  # frame i at x = i
    found = np.array([True, False, False, True, False, False])
    start, end = np.array([0, 0, 0, 0, 4, 4]), np.array([4, 4, 4, 4, 6, 6])  # two sequences
    filled, held = hold_missing(np.where(found[:, None, None], x, np.nan), found, start, end,
                                np.full((17, 2), 99.0, np.float32))
    assert held.tolist() == [False, True, True, False, True, True]
    assert filled[:, 0, 0].tolist() == [0, 0, 3, 3, 99, 99]  # nearest detected frame (the earlier on a tie)
    c = np.arange(6, dtype=np.float32)[:, None] * np.ones((6, 17), np.float32) / 10
    held_c = hold_confidence(c, found, start, end)  # the source frame's confidence; 0 with the mean pose
    assert held_c[:, 0].tolist() == pytest.approx([0, 0, 0.3, 0.3, 0, 0])
    assert len(filled) == 6


def test_truncation_hides_exactly_the_joints_beyond_the_cut_and_gives_them_confidence_0():
    x = uniform_points(50)
    still = OcclusionModel((0.0,) * 17, (0.1,) * 17, (0.0,) * 17)  # hidden joints reported where they are
    sides = np.arange(50) % 4
    seen = still.observe(x, Occluders("crop", 0.3, sides=sides), np.random.default_rng(0),
                         np.ones((50, 17), np.float32))
    x0, y0, x1, y1 = person_boxes(x).T[:, :, None]
    beyond = np.stack([x[..., 0] < x0 + 0.3 * (x1 - x0), x[..., 0] > x1 - 0.3 * (x1 - x0),
                       x[..., 1] < y0 + 0.3 * (y1 - y0), x[..., 1] > y1 - 0.3 * (y1 - y0)])[sides, np.arange(50)]
    assert np.array_equal(seen.hidden, beyond) and np.array_equal(seen.beyond_cut, beyond)
    assert beyond.any() and (~beyond).any()
    assert np.array_equal(seen.confidence, np.where(beyond, 0.0, 1.0).astype(np.float32))
    assert np.array_equal(seen.x, x) and not seen.lost.any()  # no fitted lost curve: no frame lost


def fitted_scores_model() -> OcclusionModel:
    levels = np.linspace(0, 1, 21)
    return OcclusionModel((0.0,) * 17, (0.1,) * 17, (0.0,) * 17, "test",
                          confidence_hidden=[list(0.2 * levels)] * 17,  # uniform on [0, 0.2]
                          confidence_visible=[list(0.9 + 0.1 * levels)] * 17,  # uniform on [0.9, 1]
                          lost_logit=(-2.0, 8.0))


def test_drawn_confidences_follow_the_fitted_quantiles_and_a_detectors_own_scores_stay():
    model = fitted_scores_model()
    hidden = np.zeros((4000, 17), bool)
    hidden[:, :5] = True
    c = model.draw_confidence(hidden, np.random.default_rng(0))
    assert c[hidden].min() >= 0 and c[hidden].max() <= 0.2 and abs(c[hidden].mean() - 0.1) < 0.005
    assert c[~hidden].min() >= 0.9 and abs(c[~hidden].mean() - 0.95) < 0.005
    own = np.full((4000, 17), 0.5, np.float32)
    kept = model.draw_confidence(hidden, np.random.default_rng(0), own)
    assert np.array_equal(kept[~hidden], own[~hidden]) and np.array_equal(kept[hidden], c[hidden])
    # no fitted scores: hidden 0, visible 1
    plain = OcclusionModel().draw_confidence(hidden, np.random.default_rng(0))
    assert np.array_equal(plain, (~hidden).astype(np.float32))


def test_lost_frames_follow_the_logistic_curve_and_never_hit_a_frame_with_nothing_hidden():
    model = fitted_scores_model()
    hidden = np.zeros((20000, 17), bool)
    hidden[:10000, :17 // 2 + 1] = True  # share 9/17 hidden in the first half, nothing in the second
    lost = model.lost_frames(hidden, np.random.default_rng(0))
    p = 1 / (1 + np.exp(-(-2.0 + 8.0 * 9 / 17)))
    assert abs(lost[:10000].mean() - p) < 0.015 and not lost[10000:].any()
    seen = model.observe(uniform_points(400), Occluders("mask", 0.5, cells=np.ones((400, 8, 8), bool)),
                         np.random.default_rng(1))
    assert seen.lost.any() and (seen.confidence[seen.lost] == 0).all()


def test_fitting_recovers_known_confidence_quantiles_and_lost_curve():
    rng = np.random.default_rng(3)
    n = 6000
    truth = rng.uniform(100, 500, size=(n, 17, 2))
    hidden = rng.uniform(size=(n, 17)) < rng.uniform(0.05, 0.9, size=(n, 1))
    confidence = np.where(hidden, rng.uniform(0, 0.2, size=(n, 17)), rng.uniform(0.9, 1.0, size=(n, 17)))
    share = hidden.mean(axis=1)
    found = rng.uniform(size=n) >= 1 / (1 + np.exp(-(-2.0 + 4.0 * share)))
    fit = fit_keypoint_model(truth, truth, hidden, found, "test", confidence=confidence)
    levels = np.linspace(0, 1, 21)
    np.testing.assert_allclose(fit.confidence_hidden[0], 0.2 * levels, atol=0.02)
    np.testing.assert_allclose(fit.confidence_visible[16], 0.9 + 0.1 * levels, atol=0.01)
    a, b = fit.lost_logit
    assert abs(a + 2.0) < 0.2 and abs(b - 4.0) < 0.4
    assert OcclusionModel.from_dict(fit.to_dict()) == fit
    with pytest.raises(HipartError, match="ascending quantiles"):
        OcclusionModel(confidence_hidden=[[0.5] * 20 + [0.1]] * 17)


def test_occluded_training_copies_keep_the_truth_and_hold_lost_frames(tiny_dataset):
    from hipart.training.inputs import held_sources, split_frames, with_occluded_copies

    frames = split_frames(tiny_dataset, "train", "gt", log=lambda m: None)
    model = fitted_scores_model()
    both = with_occluded_copies(frames, model, 1, seed=0)
    n = len(frames)
    assert len(both) == 2 * n and both.source != frames.source and both.source.startswith("gt-occluded:")
    assert np.array_equal(both.X_s[n:], frames.X_s) and np.array_equal(both.x_s[:n], frames.x_s)
    assert np.array_equal(both.start[n:], frames.start + n) and np.array_equal(both.end[n:], frames.end + n)
    copy = both.select(np.arange(2 * n) >= n)
    assert copy.held.any() and not np.array_equal(copy.x_s, frames.x_s)
    source = held_sources(~copy.held, copy.start, copy.end)  # a held frame carries its source's pose and confidence
    has = source >= 0
    assert np.array_equal(copy.x_s[has], copy.x_s[source[has]])
    assert np.array_equal(copy.confidence[has], copy.confidence[source[has]])
    again = with_occluded_copies(frames, model, 1, seed=0)
    assert np.array_equal(again.x_s, both.x_s) and np.array_equal(again.confidence, both.confidence)
    assert with_occluded_copies(frames, model, 0, seed=0) is frames


@pytest.mark.slow
def test_a_lifter_with_occluded_copies_trains_on_every_copy(tiny_dataset, tmp_path):
    import pandas as pd

    from hipart.config import load_config
    from hipart.training.lifter import train_lifter

    cfg = load_config("tiny", {"lifter": {"input": "sparse", "epochs": 1, "occlusion_copies": 2}})
    lines = []
    train_lifter(cfg, tiny_dataset, tmp_path / "lifter", None, progress=False, log=lines.append)
    assert pd.read_csv(tmp_path / "lifter" / "metrics.csv")["step"].tolist() == [225]  # 3 x 4800 frames, batch 64
    assert any("2 occluded copies of the training frames" in line for line in lines)

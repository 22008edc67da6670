"""The pictures (hipart.figures): which joints count as not seen by the detector, how they are drawn, and the 3D
panel's fixed body-sized box."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from hipart.figures import REACH_MM, clip_to_box, draw_skeletons_3d, prediction_figure, unseen_joints
from hipart.skeleton import H36M


def standing_pose_px() -> np.ndarray:
    """(17, 2) px: a small upright skeleton in the middle of a 300 x 200 picture, joints spread along the height."""
    rng = np.random.default_rng(0)
    return np.stack([150 + rng.uniform(-30, 30, H36M.num_joints), np.linspace(40, 160, H36M.num_joints)], axis=1)


def red_pixels(picture: np.ndarray) -> int:
    r, g, b = (picture[..., c].astype(int) for c in range(3))
    return int(((r > 200) & (g < 60) & (b < 60)).sum())


def test_a_joint_is_not_seen_below_half_confidence_or_outside_the_image():
    x = np.array([[10.0, 10.0], [10.0, 10.0], [150.0, 10.0], [10.0, 10.0], [10.0, 10.0], [-0.5, -0.5],
                  [99.5, 10.0], [10.0, 79.4]])
    confidence = np.array([0.9, 0.3, 0.9, 0.5, np.nan, 0.9, 0.9, 0.9])
    size = (100, 80)  # width, height: pixel centres 0..99 x 0..79, the picture ends half a pixel beyond them
    assert unseen_joints(x, size, confidence).tolist() == [False, True, True, False, True, False, True, False]
    assert unseen_joints(x, size).tolist() == [False, False, True, False, False, False, True, False]
    # frames at once: (N, J, 2) joints with (N, 2) sizes
    both = unseen_joints(np.stack([x, x]), np.array([[100, 80], [200, 80]]))
    assert both[0].tolist() == unseen_joints(x, size).tolist() and not both[1].any()


def test_a_bone_beyond_the_box_is_cut_at_its_face():
    def clip(a, b):
        out = clip_to_box(np.array(a, float), np.array(b, float), 1000.0)
        return None if out is None else np.stack(out).tolist()

    assert clip([0, 0, 0], [2000, 0, 0]) == [[0, 0, 0], [1000, 0, 0]]
    assert clip([-2000, 0, 0], [2000, 0, 0]) == [[-1000, 0, 0], [1000, 0, 0]]
    assert clip([0, 0, 0], [2000, 4000, 0]) == [[0, 0, 0], [500, 1000, 0]]
    assert clip([100, -200, 300], [400, 500, -600]) == [[100, -200, 300], [400, 500, -600]]  # inside: unchanged
    assert clip([1500, 0, 0], [2000, 0, 0]) is None
    assert clip([0, 1200, 0], [500, 1200, 0]) is None  # parallel to a face, beyond it


@pytest.mark.parametrize("scale", [0.01, 1.0, 10.0])
def test_the_3d_panel_spans_exactly_a_thousand_mm_each_way_whatever_the_pose(scale):
    pose = np.random.default_rng(1).uniform(-400, 400, size=(H36M.num_joints, 3)) * scale  # root-relative: +-800
    fig = plt.figure()
    ax3 = fig.add_subplot(projection="3d")
    draw_skeletons_3d(ax3, [(pose - pose[:1], "k", "pose")])
    assert REACH_MM == 1000.0
    assert ax3.get_xlim() == ax3.get_ylim() == ax3.get_zlim() == (-1000.0, 1000.0)
    drawn = np.concatenate([np.stack(line.get_data_3d(), axis=1) for line in ax3.get_lines()])
    assert np.abs(drawn).max() <= 1000.0 + 1e-9  # a pose reaching beyond is cut, not rescaled
    if scale == 10.0:
        assert np.isclose(np.abs(drawn).max(), 1000.0)
    else:  # poses inside the box are drawn as they are: bone by bone, x, depth z, up -y
        shown = (pose - pose[:1])[:, [0, 2, 1]] * [1, 1, -1]
        np.testing.assert_allclose(drawn, np.concatenate([shown[[a, b]] for a, b in H36M.bones]))
    assert [t.get_text() for t in ax3.legend().get_texts()] == ["pose"]
    plt.close(fig)


def test_the_prediction_picture_marks_unseen_joints_and_keeps_its_size():
    image = np.full((200, 300, 3), 128, np.uint8)
    x_s = standing_pose_px()
    rng = np.random.default_rng(2)
    x_d, x_f = x_s[rng.integers(0, 17, 48)] + 2.0, x_s[rng.integers(0, 17, 96)] - 2.0
    X = np.random.default_rng(3).uniform(-600, 600, size=(H36M.num_joints, 3))
    seen = np.full(H36M.num_joints, 0.9)
    doubtful = seen.copy()
    doubtful[[3, 6, 13]] = 0.2  # a foot, the other foot, a wrist
    pictures = {name: prediction_figure(image, x_s, x_d, x_f, X, "test", confidence=c)
                for name, c in (("none", None), ("seen", seen), ("doubtful", doubtful))}
    for picture in pictures.values():
        assert picture.shape == (600, 1200, 3) and picture.dtype == np.uint8
    assert red_pixels(pictures["none"]) == red_pixels(pictures["seen"]) == 0
    assert red_pixels(pictures["doubtful"][:, :600]) > 0  # the crosses, on the picture's half
    outside = x_s.copy()
    outside[10] = (320.0, 60.0)  # a wrist beyond the right edge: not seen even without confidence
    assert red_pixels(prediction_figure(image, outside, x_d, x_f, X)[:, :600]) > 0
    nobody = prediction_figure(image, np.full_like(x_s, np.nan), x_d, x_f, X, confidence=np.zeros(17))
    assert nobody.shape == (600, 1200, 3) and nobody.dtype == np.uint8

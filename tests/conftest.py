"""Shared fixtures. The Anny body is built once per machine into the hipart cache (about a minute the first
time, milliseconds afterwards) and shared by every test that needs it."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def anny_body():
    from hipart.body.anny_body import AnnyBody

    return AnnyBody()


@pytest.fixture(scope="session")
def capture(anny_body):
    from hipart.data.synthetic import SyntheticH36M

    return SyntheticH36M(anny_body, frames=250)


@pytest.fixture(scope="session")
def anny_hierarchy(anny_body):
    from hipart.coarsen.hierarchy import build_hierarchy

    return build_hierarchy(anny_body.template_vertices(), anny_body.faces, None, (96, 48),
                           sparse_joints=anny_body.template_sparse(), balance="area")  # the embedded default


@pytest.fixture(scope="session")
def tiny_capture(anny_body):
    from hipart.data.synthetic import SyntheticH36M

    return SyntheticH36M(anny_body, frames=8)


def tiny_source(hier, capture, **data):
    """The default capture with the tiny preset's data settings (plus overrides), reusing a built capture."""
    from hipart.config import load_config
    from hipart.data.sources import SyntheticSource

    cfg = load_config("tiny", {"data": data})
    return SyntheticSource(hier, cfg.data, seed=cfg.seed, capture=capture)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory, anny_hierarchy, tiny_capture):
    """The tiny preset's default dataset (4,800 train / 960 test images), built once per test session."""
    from hipart.data.build import build_dataset

    out = tmp_path_factory.mktemp("ds") / "tiny"
    build_dataset(tiny_source(anny_hierarchy, tiny_capture), out, progress=False, log=lambda m: None)
    return out


@pytest.fixture(scope="session")
def tiny_msst(tiny_dataset, tmp_path_factory):
    """MSST trained with the tiny preset on the tiny dataset: (run folder, summary)."""
    from hipart.config import load_config
    from hipart.training.msst import train_msst

    out = tmp_path_factory.mktemp("run") / "msst"
    return out, train_msst(load_config("tiny"), tiny_dataset, out, progress=False, log=lambda m: None)


@pytest.fixture(scope="session")
def pipeline_run(tiny_dataset, tmp_path_factory):
    """`train all --config tiny` once for the session: (run folder, its output)."""
    from click.testing import CliRunner

    from hipart_cli.main import cli

    run = tmp_path_factory.mktemp("pipeline") / "run"
    result = CliRunner().invoke(cli, ["train", "all", "--config", "tiny", "--data", str(tiny_dataset), "--out",
                                      str(run), "--quiet"])
    assert result.exit_code == 0, result.output
    return run, result.output


@pytest.fixture(scope="session")
def baseline_run(pipeline_run, tiny_dataset, tmp_path_factory):
    """A copy of the tiny run plus every baseline (`train all --with-baselines`), for the benchmarks."""
    import shutil

    from click.testing import CliRunner

    from hipart_cli.main import cli

    run = tmp_path_factory.mktemp("bench") / "run"
    shutil.copytree(pipeline_run[0], run)
    result = CliRunner().invoke(cli, ["train", "all", "--config", "tiny", "--data", str(tiny_dataset), "--out",
                                      str(run), "--quiet", "--with-baselines"])
    assert result.exit_code == 0, result.output
    return run


@pytest.fixture(scope="session")
def rendered_tiny(tiny_dataset):
    """The tiny dataset with images of two sequences per split (train S1 Walking, test S9 Walking): 64 + 32 images.
    Needs the images extra."""
    pytest.importorskip("mediapipe")
    pytest.importorskip("pyvista")
    from hipart.render.dataset import render_dataset

    out = tiny_dataset / "images"
    if not (out / "manifest.json").is_file():
        render_dataset(tiny_dataset, out, "train", subjects=["S1"], actions=["Walking"], progress=False,
                       log=lambda m: None)
        render_dataset(tiny_dataset, out, "test", subjects=["S9"], actions=["Walking"], progress=False,
                       log=lambda m: None)
    return tiny_dataset


@pytest.fixture()
def pose2mesh_folder(tmp_path):
    """A Pose2Mesh data folder in the published layout: Human36M annotations of S1 and S9 (2 actions x 2
    subactions x 12 frames, SMPL fits every 5th), a 240-vertex SMPL pickle with chumpy objects and an H36M regressor."""
    import numpy as np

    from formats import make_smpl_arrays, write_pose2mesh_annotations, write_smpl_pickle

    root = tmp_path / "pose2mesh"
    write_pose2mesh_annotations(root / "data" / "Human36M" / "annotations", num_frames=12)
    arrays = make_smpl_arrays()
    (root / "smpl").mkdir()
    write_smpl_pickle(root / "smpl" / "SMPL_NEUTRAL.pkl", arrays)
    rng = np.random.default_rng(3)
    reg = rng.uniform(size=(17, 240)) * (rng.uniform(size=(17, 240)) < 0.1)
    np.save(root / "data" / "J_regressor_h36m_correct.npy", reg / reg.sum(1, keepdims=True))
    return root

"""The benchmark suite (hipart bench ..., hipart report) on the tiny run with every baseline."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from hipart.bench.ablation import complexity, parse_setting, setting_config, settings
from hipart.bench.codebook import cosine_matrix, perplexity
from hipart.bench.common import BenchRun, markdown
from hipart.occlusion import OcclusionModel
from hipart.bench.occlusion import occluded_inputs, settings_from
from hipart.errors import HipartError
from hipart_cli.main import cli


@pytest.fixture(scope="module")
def bench_results(baseline_run, tiny_dataset, tmp_path_factory):
    """`hipart bench all --quick` once, then the occlusion sweep the tests read."""
    out = tmp_path_factory.mktemp("results")
    result = CliRunner().invoke(cli, ["bench", "all", "--quick", "--run", str(baseline_run), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "occlusion" / "meta.json").read_text())["settings"]["settings"] == [["mask", 0.4],
                                                                                                ["crop", 0.3]]
    result = CliRunner().invoke(cli, ["bench", "occlusion", "--run", str(baseline_run), "--out", str(out), "--mask",
                                      "0.2", "--mask", "0.4", "--crop", "0", "--crop", "0.3"])
    assert result.exit_code == 0, result.output
    return baseline_run, out, result.output


def test_occluded_inputs_depend_only_on_the_setting():
    x = np.random.default_rng(0).uniform(0, 1000, size=(200, 17, 2))
    a, ha = occluded_inputs(x, "crop", 0.3, 0, OcclusionModel())
    b, hb = occluded_inputs(x, "crop", 0.3, 0, OcclusionModel())
    c, _ = occluded_inputs(x, "crop", 0.3, 1, OcclusionModel())
    assert np.array_equal(a, b) and np.array_equal(ha, hb) and not np.array_equal(a, c)
    z, hz = occluded_inputs(x, "crop", 0.0, 0, OcclusionModel())
    assert not hz.any() and np.array_equal(z, x)
    assert settings_from((), ()) == [("mask", r) for r in (0.2, 0.4, 0.6, 0.8)] + \
        [("crop", c) for c in (0.0, 0.1, 0.2, 0.3, 0.4)]
    with pytest.raises(HipartError, match="between 0 and 1"):
        settings_from((), (1.2,))


def test_codebook_helpers_known_answers():
    assert perplexity(torch.ones(64)) == pytest.approx(64.0)
    assert perplexity(torch.tensor([5, 0, 0, 0])) == pytest.approx(1.0)
    m = cosine_matrix(torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.tensor([[3.0, 0.0], [1.0, 1.0]]))
    np.testing.assert_allclose(m.numpy(), [[1.0, 2 ** -0.5], [0.0, 2 ** -0.5]], atol=1e-6)


def test_ablation_counts_are_the_models_parameters():
    from hipart.models.hiarm import HiARM
    from hipart.models.lifter import Lifter
    from hipart.training.msst import build_msst

    s = settings(((2, 3, 32, 48),), variants=False)[0]
    cfg = setting_config("tiny", s)
    assert (cfg.msst.num_blocks, cfg.hiarm.num_blocks, cfg.msst.dim, cfg.hiarm.dim) == (2, 3, 32, 48)
    msst = build_msst(cfg, None)
    m = msst.cfg
    hiarm = HiARM(cfg.hiarm, m.tokens_per_part, m.codebook_size_sparse, m.codebook_size_dense)
    lifter = Lifter(cfg.lifter, 161)
    count = sum(p.numel() for mod in (msst, hiarm, lifter) for p in mod.parameters())
    c = complexity(cfg, None)
    assert c["Params (M)"] * 1e6 == pytest.approx(count)
    deeper_msst = complexity(setting_config("tiny", settings(((3, 3, 32, 48),), variants=False)[0]), None)
    deeper_hiarm = complexity(setting_config("tiny", settings(((2, 4, 32, 48),), variants=False)[0]), None)
    # L1 deepens the MSST encoders, which inference does not run: more parameters, the same FLOPs per frame
    assert deeper_msst["Params (M)"] > c["Params (M)"] and deeper_msst["FLOPs (G)"] == c["FLOPs (G)"]
    assert deeper_hiarm["Params (M)"] > c["Params (M)"] and deeper_hiarm["FLOPs (G)"] > c["FLOPs (G)"]
    with pytest.raises(HipartError, match="four positive integers"):
        parse_setting("4,12,128")


def test_markdown_table_keeps_integers_and_marks_missing():
    df = pd.DataFrame.from_dict({"a": {"n": 3, "x": 1.234}, "b": {"n": 4, "x": float("nan")}}, orient="index")
    df.index.name = "method"
    assert markdown(df).splitlines() == ["| method | n | x |", "| --- | --- | --- |", "| a | 3 | 1.2 |", "| b | 4 |  |"]


@pytest.mark.slow
def test_occlusion_scores_every_method_on_the_same_inputs(bench_results, baseline_run):
    run, out, _ = bench_results
    table = pd.read_csv(out / "occlusion" / "occlusion_mpjpe.csv", index_col="method")
    methods = ["HiPART (hier lifter)", "sparse lifter", "diffpose", "mixste-f5-sparse"]
    assert list(table.index) == methods + ["hidden joints (%)"]
    assert list(table.columns) == ["clean", "mask 0.2", "mask 0.4", "crop 0", "crop 0.3"]
    # unoccluded inputs reproduce each method's own test evaluation, and crop 0 is the clean input
    for label, folder in zip(methods, ("lifter_hier", "lifter_sparse", "baseline_diffpose",
                                       "baseline_mixste-f5-sparse")):
        own = pd.read_csv(run / folder / "eval.csv", index_col="action").loc["Average", "MPJPE"]
        assert table.loc[label, "clean"] == pytest.approx(own, rel=1e-4)
    np.testing.assert_allclose(table["crop 0"], table["clean"], rtol=1e-6)
    hidden = table.loc["hidden joints (%)"]
    assert hidden["clean"] == 0 and hidden["crop 0"] == 0 and 0 < hidden["mask 0.2"] < hidden["mask 0.4"]
    assert (out / "occlusion" / "occlusion.png").stat().st_size > 0
    meta = json.loads((out / "occlusion" / "meta.json").read_text())
    assert meta["data_label"].startswith("embedded default data") and len(meta["manifest_sha256"]) == 64


@pytest.mark.slow
def test_a_missing_method_is_listed_not_invented(baseline_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(baseline_run, run)
    shutil.rmtree(run / "baseline_diffpose")
    result = CliRunner().invoke(cli, ["bench", "occlusion", "--run", str(run), "--crop", "0.3", "--out",
                                      str(tmp_path / "res")])
    assert result.exit_code == 0, result.output
    assert "diffpose: no checkpoint" in result.output
    table = pd.read_csv(tmp_path / "res" / "occlusion" / "occlusion_mpjpe.csv", index_col="method")
    assert list(table.columns) == ["clean", "crop 0.3"] and table.loc["diffpose"].isna().all()
    assert "| diffpose | missing | missing |" in (tmp_path / "res" / "occlusion" / "occlusion.md").read_text()


@pytest.mark.slow
def test_speed_densify_codebook_qualitative_ablation_and_report(bench_results):
    run, out, output = bench_results
    speed = pd.read_csv(out / "speed" / "speed.csv", index_col="method")
    assert set(speed["batch"]) == {1, 16} and (speed["FPS"] > 0).all()
    assert {"HiPART: fast decoding", "HiPART: eager decoding, growing cache", "HiPART: eager decoding, no cache",
            "HiARM decoding alone (17 steps): fast", "MixSTE-style f=9 w/ HiPART"} <= set(speed.index)
    assert not speed.reset_index().duplicated(["method", "batch"]).any()
    ratios = pd.read_csv(out / "speed" / "ratios.csv", index_col="ratio")
    assert ratios.loc["fast vs eager fp32: tokens equal, % (16 frames)", "measured"] == 100.0
    mix = speed.loc["MixSTE-style f=9"]
    assert mix["frames per pass"].tolist() == [9, 18]  # ceil(batch / f) windows of f frames
    hipart = json.loads((run / "lifter_hier" / "summary.json").read_text())["test"]["mpjpe"]
    assert speed.loc["HiPART: fast decoding", "MPJPE"].iloc[0] == pytest.approx(hipart)
    assert speed.loc["MixSTE-style f=9", "MPJPE"].isna().all()  # no f=9 checkpoint: timed, not scored
    dens = pd.read_csv(out / "densify" / "densify.csv", index_col="method")
    assert list(dens.index) == ["HiPART (HiARM + MSST)", "densify-gcn", "densify-oneshot", "ground truth levels"]
    assert dens.loc["ground truth levels", "x_f px"] == 0.0 and (dens["x_f px"].iloc[:3] > 0).all()
    toy = pd.read_csv(out / "densify" / "toy_experiment.csv", index_col="lifter input")
    gt = pd.read_csv(run / "lifter_gt-hier" / "eval.csv", index_col="action").loc["Average", "MPJPE"]
    assert toy.loc["sparse + true dense and fine levels", "MPJPE"] == pytest.approx(gt)
    usage = pd.read_csv(out / "codebook" / "usage.csv", index_col="codebook")
    q = torch.load(run / "hiarm" / "tokens_test.pt", weights_only=True)
    assert usage.loc["C_s", "codes used (test)"] == len(torch.unique(q["q_s"]))
    assert 1 <= usage.loc["C_d", "perplexity (test)"] <= usage.loc["C_d", "size"]
    frames = pd.read_csv(out / "qualitative" / "frames.csv", index_col="test frame")
    assert len(frames) == 4 and (out / "qualitative" / "qualitative.png").stat().st_size > 0
    ablation = pd.read_csv(out / "ablation" / "ablation.csv", index_col="setting")
    assert list(ablation.index) == ["L1-2_L2-6_D1-128_D2-128", "L1-4_L2-12_D1-128_D2-128"]
    assert ablation.loc["L1-4_L2-12_D1-128_D2-128", "paper MPJPE"] == 42.0
    report = (out / "report.md").read_text()
    for name in ("## occlusion", "## speed", "## ablation", "## densify", "## codebook", "## qualitative",
                 "Paper reference (Table 1)"):
        assert name in report
    assert (out / "report.html").read_text().count("<img") >= 5


def test_bench_all_refuses_a_folder_that_is_not_a_run(tmp_path):
    result = CliRunner().invoke(cli, ["bench", "speed", "--run", str(tmp_path)])
    assert result.exit_code == 1 and "not a run folder" in result.output
    with pytest.raises(HipartError, match="no dataset manifest"):
        (tmp_path / "config.yaml").write_text("name: tiny\n")
        BenchRun.open(tmp_path, tmp_path)

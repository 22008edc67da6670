"""The benchmark suite (hipart bench ..., hipart report) on the tiny run with every baseline."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from hipart.bench.ablation import complexity, parse_setting, setting_config, settings
from hipart.bench.codebook import cosine_matrix, perplexity
from hipart.bench.common import BenchRun, markdown
from hipart.bench.occlusion import _plot, _with_deltas, _with_shares, occluded_inputs, settings_from
from hipart.bench.speed import CACHED, FAST, FAST_EAGER, HIARM_EAGER, HIARM_FAST, SPARSE, UNCACHED
from hipart.config import load_config
from hipart.data.build import MANIFEST
from hipart.data.dataset import PoseDataset
from hipart.errors import HipartError
from hipart.occlusion import Occluders, OcclusionModel, cut_off, hidden_joints, truncated_frames
from hipart.runs import RunLayout
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
                                      "0.2", "--mask", "0.4", "--crop", "0", "--crop", "0.3", "--level", "keypoint"])
    assert result.exit_code == 0, result.output
    return baseline_run, out, result.output


def test_occluded_inputs_depend_only_on_the_setting():
    x = np.random.default_rng(0).uniform(0, 1000, size=(200, 17, 2))
    model = OcclusionModel.fitted()
    a, b = occluded_inputs(x, "crop", 0.3, 0, model), occluded_inputs(x, "crop", 0.3, 0, model)
    c = occluded_inputs(x, "crop", 0.3, 1, model)
    assert all(np.array_equal(u, v) for u, v in zip(a, b)) and not np.array_equal(a.x, c.x)
    assert not np.array_equal(a.confidence, c.confidence)
    z = occluded_inputs(x, "crop", 0.0, 0, model)
    assert not z.hidden.any() and np.array_equal(z.x, x)
    assert settings_from((), ()) == [("mask", r) for r in (0.2, 0.4, 0.6, 0.8)] + \
        [("crop", c) for c in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)]
    with pytest.raises(HipartError, match="between 0 and 1"):
        settings_from((), (1.2,))


def test_only_a_crop_beyond_zero_cuts_joints_off_the_picture():
    x = np.full((2, 17, 2), [50.0, 40.0])
    x[1, 0] = (5.0, 40.0)  # in the 100 x 80 picture, left of the person's box
    boxes, size = np.tile([10.0, 20.0, 90.0, 60.0], (2, 1)), np.tile([100, 80], (2, 1))
    zero = hidden_joints(x, boxes, Occluders("crop", 0.0, sides=np.zeros(2, int)))
    assert zero.sum() == 1  # hidden_joints counts the joint beyond the box's left edge; the picture stays whole
    assert not truncated_frames(x, size, cut_off("crop", 0.0, zero)).any()
    left = hidden_joints(x, boxes, Occluders("crop", 0.2, sides=np.zeros(2, int)))
    assert truncated_frames(x, size, cut_off("crop", 0.2, left)).tolist() == [False, True]
    assert cut_off("mask", 0.4, left) is None


def test_share_rows_follow_the_methods_without_deltas_or_a_line_in_the_plot():
    scores = pd.DataFrame({"clean": {"A": 40.0, "B": 50.0}, "crop 0.3": {"A": 45.0, "B": 52.5}})
    table = _with_shares(scores, {"clean": {"no detection (%)": 0.0, "truncated frames (%)": 12.5},
                                  "crop 0.3": {"no detection (%)": 25.0, "truncated frames (%)": 87.5}})
    assert list(table.index) == ["A", "B", "no detection (%)", "truncated frames (%)"]
    assert table.loc["truncated frames (%)"].tolist() == [12.5, 87.5]
    deltas = _with_deltas(table)
    assert deltas.loc["A"].tolist() == ["40.0", "45.0 (+5.0)"] and deltas.loc["B", "crop 0.3"] == "52.5 (+2.5)"
    assert deltas.loc["no detection (%)"].tolist() == ["0.0", "25.0"]
    assert deltas.loc["truncated frames (%)"].tolist() == ["12.5", "87.5"]
    fig = _plot(table, [("crop", 0.3)])
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["A", "B"] and lines[0].get_ydata().tolist() == [40.0, 45.0]


def test_codebook_helpers_known_answers():
    assert perplexity(torch.ones(64)) == pytest.approx(64.0)
    assert perplexity(torch.tensor([5, 0, 0, 0])) == pytest.approx(1.0)
    m = cosine_matrix(torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.tensor([[3.0, 0.0], [1.0, 1.0]]))
    np.testing.assert_allclose(m.numpy(), [[1.0, 2 ** -0.5], [0.0, 2 ** -0.5]], atol=1e-6)


def test_ablation_counts_are_the_models_parameters():
    from hipart.models.hiarm import HiARM
    from hipart.models.lifter import Lifter, joint_anchors
    from hipart.training.msst import build_msst

    s = settings(((2, 3, 32, 48),), variants=False)[0]
    cfg = setting_config("tiny", s)
    assert (cfg.msst.num_blocks, cfg.hiarm.num_blocks, cfg.msst.dim, cfg.hiarm.dim) == (2, 3, 32, 48)
    msst = build_msst(cfg, None)
    m = msst.cfg
    hiarm = HiARM(cfg.hiarm, m.tokens_per_part, m.codebook_size_sparse, m.codebook_size_dense)
    lifter = Lifter(cfg.lifter, joint_anchors(161))
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
def test_occlusion_scores_every_method_on_the_same_inputs(bench_results, baseline_run, tiny_dataset):
    run, out, _ = bench_results
    table = pd.read_csv(out / "occlusion" / "occlusion_mpjpe.csv", index_col="method")
    methods = ["HiPART (hier lifter)", "sparse lifter", "diffpose", "mixste-f5-sparse"]
    assert list(table.index) == methods + ["hidden joints (%)", "no detection (%)", "truncated frames (%)"]
    assert list(table.columns) == ["clean", "mask 0.2", "mask 0.4", "crop 0", "crop 0.3"]
    # unoccluded inputs reproduce each method's own test evaluation, and crop 0 is the clean input
    for label, folder in zip(methods, ("lifter_hier", "lifter_sparse", "baseline_diffpose",
                                       "baseline_mixste-f5-sparse")):
        own = pd.read_csv(run / folder / "eval.csv", index_col="action").loc["Average", "MPJPE"]
        assert table.loc[label, "clean"] == pytest.approx(own, rel=1e-4)
    np.testing.assert_allclose(table["crop 0"], table["clean"], rtol=1e-6)
    hidden = table.loc["hidden joints (%)"]
    assert hidden["clean"] == 0 and hidden["crop 0"] == 0 and 0 < hidden["mask 0.2"] < hidden["mask 0.4"]
    # a frame is truncated by a joint outside its image or, for a crop, beyond the cut: a mask cuts nothing
    truncated = table.loc["truncated frames (%)"]
    assert truncated["mask 0.2"] == truncated["mask 0.4"] == truncated["crop 0"] == truncated["clean"]
    test = PoseDataset(tiny_dataset, "test", fields=("x_s",), normalize=False)
    x_s = test.arrays()["x_s"]
    cut = occluded_inputs(x_s, "crop", 0.3, 0, OcclusionModel.fitted()).hidden
    expected = truncated_frames(x_s.astype(np.float64), test.image_size, cut)
    assert truncated["crop 0.3"] == pytest.approx(100 * expected.mean()) and truncated["crop 0.3"] > truncated["clean"]
    rows = [r for r in (out / "occlusion" / "occlusion.md").read_text().splitlines()
            if r.startswith(("| hidden joints (%) |", "| truncated frames (%) |"))]
    assert len(rows) == 2 and not any("(+" in r or "(-" in r for r in rows)  # shares get no MPJPE change
    with Image.open(out / "occlusion" / "occlusion.png") as picture:
        assert picture.format == "PNG"
    meta = json.loads((out / "occlusion" / "meta.json").read_text())
    assert meta["data_label"].startswith("embedded default data") and len(meta["manifest_sha256"]) == 64


@pytest.mark.slow
def test_a_missing_method_is_listed_not_invented(baseline_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(baseline_run, run)
    shutil.rmtree(run / "baseline_diffpose")
    result = CliRunner().invoke(cli, ["bench", "occlusion", "--run", str(run), "--crop", "0.3", "--out",
                                      str(tmp_path / "res"), "--level", "keypoint"])
    assert result.exit_code == 0, result.output
    assert "diffpose: no checkpoint" in result.output
    table = pd.read_csv(tmp_path / "res" / "occlusion" / "occlusion_mpjpe.csv", index_col="method")
    assert list(table.columns) == ["clean", "crop 0.3"] and table.loc["diffpose"].isna().all()
    assert "| diffpose | missing | missing |" in (tmp_path / "res" / "occlusion" / "occlusion.md").read_text()


@pytest.mark.slow
def test_speed_densify_codebook_qualitative_ablation_and_report(bench_results):
    from hipart.models.hiarm import HiARM
    from hipart.models.lifter import Lifter
    from hipart.models.msst import MSST
    from hipart.training.baselines import load_baseline

    run, out, output = bench_results
    count = lambda *models: sum(p.numel() for m in models for p in m.parameters())  # noqa: E731
    # speed (quick: batches 1 and 16, MixSTE at f = 1 and 9): FPS are measurements; the table's rows, frames per
    # pass, parameters and scores are known
    speed = pd.read_csv(out / "speed" / "speed.csv", index_col="method")
    methods = [FAST, FAST_EAGER, CACHED, UNCACHED, HIARM_FAST, HIARM_EAGER, SPARSE,
               "DiffPose-style (2 DDIM steps, 1 hypothesis)", "MixSTE-style f=1", "MixSTE-style f=1 w/ HiPART",
               "MixSTE-style f=9", "MixSTE-style f=9 w/ HiPART"]
    assert list(zip(speed.index, speed["batch"])) == [(m, b) for m in methods for b in (1, 16)]  # each row once
    assert (speed["FPS"] > 0).all() and np.isfinite(speed["FPS"]).all()
    per_pass = {m: [1, 16] for m in methods} | {"MixSTE-style f=9": [9, 18], "MixSTE-style f=9 w/ HiPART": [9, 18]}
    for m, n in per_pass.items():  # ceil(batch / f) windows of f frames
        assert speed.loc[m, "frames per pass"].tolist() == n, m
    ratios = pd.read_csv(out / "speed" / "ratios.csv", index_col="ratio")
    assert ratios.loc["fast vs eager fp32: tokens equal, % (16 frames)", "measured"] == 100.0
    share = ratios.loc["HiARM decoding fast (L2 2, D2 32), % of the matmul peak"]  # the tiny preset's HiARM size
    assert share["batch"].tolist() == [1, 16] and (share["measured"] > 0).all()
    msst, hiarm = MSST.load(run / "msst" / "checkpoint.pt")[0], HiARM.load(run / "hiarm" / "checkpoint.pt")[0]
    params = speed.groupby(level=0)["params"].first()
    hipart_params = count(msst, hiarm, Lifter.load(run / "lifter_hier" / "checkpoint.pt")[0])
    for m in (FAST, FAST_EAGER, CACHED, UNCACHED):
        assert params[m] == hipart_params, m
    assert params[HIARM_FAST] == params[HIARM_EAGER] == count(hiarm)
    assert params[SPARSE] == count(Lifter.load(run / "lifter_sparse" / "checkpoint.pt")[0])
    assert params[methods[7]] == count(load_baseline(run / "baseline_diffpose" / "checkpoint.pt", "diffpose")[0])
    dim = 32  # the tiny preset's MixSTE width: f=9 adds 8 temporal positions, 161 joints add 144 joint embeddings
    assert params["MixSTE-style f=9"] - params["MixSTE-style f=1"] == 8 * dim
    for f in (1, 9):
        assert params[f"MixSTE-style f={f} w/ HiPART"] - params[f"MixSTE-style f={f}"] == \
            count(msst, hiarm) + (161 - 17) * dim
    # the cached and fast decodings do the same work: the same FLOPs per frame
    flops = speed.groupby(level=0)["FLOPs/frame (M)"].first()
    assert flops[FAST] == flops[CACHED] and flops[HIARM_FAST] == flops[HIARM_EAGER] > 0
    hipart = json.loads((run / "lifter_hier" / "summary.json").read_text())["test"]["mpjpe"]
    assert speed.loc["HiPART: fast decoding", "MPJPE"].iloc[0] == pytest.approx(hipart)
    assert speed.loc["MixSTE-style f=9", "MPJPE"].isna().all()  # no f=9 checkpoint: timed, not scored
    # densify: each method's errors are its own evaluation on the test split (64 frames per action, so the
    # average over actions is the average over frames)
    dens = pd.read_csv(out / "densify" / "densify.csv", index_col="method")
    assert list(dens.index) == ["HiPART (HiARM + MSST)", "densify-gcn", "densify-oneshot", "ground truth levels"]
    assert dens.loc["ground truth levels", "x_f px"] == 0.0
    hiarm_test = json.loads((run / "hiarm" / "summary.json").read_text())["test"]
    assert dens.loc["HiPART (HiARM + MSST)", "x_f px"] == pytest.approx(hiarm_test["x_f_px"], rel=1e-5)
    assert dens.loc["HiPART (HiARM + MSST)", "x_d px"] == pytest.approx(hiarm_test["x_d_px"], rel=1e-5)
    assert dens.loc["HiPART (HiARM + MSST)", "MPJPE (hier lifter)"] == pytest.approx(hipart, rel=1e-6)
    for name in ("densify-gcn", "densify-oneshot"):
        own = pd.read_csv(run / f"baseline_{name}" / "eval.csv", index_col="action").loc["Average"]
        assert dens.loc[name, ["x_d px", "x_f px"]].tolist() == pytest.approx(own[["x_d px", "x_f px"]].tolist(),
                                                                               rel=1e-5), name
    toy = pd.read_csv(out / "densify" / "toy_experiment.csv", index_col="lifter input")
    gt = pd.read_csv(run / "lifter_gt-hier" / "eval.csv", index_col="action").loc["Average", "MPJPE"]
    assert toy.loc["sparse + true dense and fine levels", "MPJPE"] == pytest.approx(gt)
    usage = pd.read_csv(out / "codebook" / "usage.csv", index_col="codebook")
    q = torch.load(run / "hiarm" / "tokens_test_gt.pt", weights_only=True)
    for book, tokens in (("C_s", q["q_s"]), ("C_d", q["q_d"])):
        hits = torch.bincount(tokens.flatten(), minlength=32).double()
        share = hits[hits > 0] / hits.sum()
        assert usage.loc[book, "codes used (test)"] == len(share) and usage.loc[book, "tokens (test)"] == hits.sum()
        assert usage.loc[book, "perplexity (test)"] == pytest.approx(torch.exp(-(share * share.log()).sum()).item())
    frames = pd.read_csv(out / "qualitative" / "frames.csv", index_col="test frame")
    assert list(frames.index) == [192, 384, 575, 767]  # 4 frames evenly inside 0..959
    with Image.open(out / "qualitative" / "qualitative.png") as picture:
        assert picture.format == "PNG"
    ablation = pd.read_csv(out / "ablation" / "ablation.csv", index_col="setting")
    assert list(ablation.index) == ["L1-2_L2-6_D1-128_D2-128", "L1-4_L2-12_D1-128_D2-128"]
    assert ablation.loc["L1-4_L2-12_D1-128_D2-128", "paper MPJPE"] == 42.0
    # the levels probe, with HiPART's levels, beside the run's lifters of the same input
    probe = pd.read_csv(out / "probe" / "probe.csv", index_col="input")
    assert list(probe.index) == ["sparse", "sparse + dense", "all levels", "sparse + HiPART's levels"]
    assert np.isfinite(probe[["linear", "quadratic"]].to_numpy()).all()
    for row, mode in (("sparse", "sparse"), ("all levels", "gt-hier"), ("sparse + HiPART's levels", "hier")):
        own = pd.read_csv(run / f"lifter_{mode}" / "eval.csv", index_col="action").loc["Average", "MPJPE"]
        assert probe.loc[row, "trained lifter"] == pytest.approx(own), row
    report = (out / "report.md").read_text()
    for name in ("## occlusion", "## speed", "## ablation", "## densify", "## probe", "## codebook", "## qualitative",
                 "Paper reference (Table 1)"):
        assert name in report
    assert (out / "report.html").read_text().count("<img") >= 5


def test_bench_all_refuses_a_folder_that_is_not_a_run(tmp_path):
    result = CliRunner().invoke(cli, ["bench", "speed", "--run", str(tmp_path)])
    assert result.exit_code == 1 and "not a run folder" in result.output
    with pytest.raises(HipartError, match="no dataset manifest"):
        (tmp_path / "config.yaml").write_text("name: tiny\n")
        BenchRun.open(tmp_path, tmp_path)


def test_a_run_trained_stage_by_stage_is_read_through_its_stages_configs(tmp_path):
    run = RunLayout(tmp_path / "run")
    assert run.config_file() is None
    load_config("tiny").save(run.lifter("sparse").config)
    assert run.config_file() == run.lifter("sparse").config
    hiarm_cfg = load_config("tiny", {"name": "staged"})
    hiarm_cfg.save(run.hiarm.config)
    assert run.require().config_file() == run.hiarm.config  # HiARM's before the lifters'
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / MANIFEST).write_text("{}")
    assert BenchRun.open(run.root, tmp_path / "data").cfg.name == "staged"
    load_config("tiny", {"name": "whole"}).save(run.config)
    assert BenchRun.open(run.root, tmp_path / "data").cfg.name == "whole"  # the run's own config wins


@pytest.mark.slow
def test_image_level_occlusion_feeds_every_method_the_same_cached_detections(baseline_run, rendered_tiny, tmp_path):
    pytest.importorskip("mediapipe")
    from hipart.detect.dataset import detect_dataset
    from hipart.occlusion import OcclusionModel

    detect_dataset(rendered_tiny, progress=False, log=lambda m: None)  # fits the joint adapter on the train renders
    args = ["bench", "occlusion", "--run", str(baseline_run), "--mask", "0.4", "--crop", "0.3", "--frames", "8"]
    first = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "a")])
    assert first.exit_code == 0, first.output
    meta = json.loads((tmp_path / "a" / "occlusion" / "meta.json").read_text())["settings"]
    assert meta["level"] == "image" and meta["frames"] == 8 and meta["sequences"] == 2  # whole 4-frame sequences
    table = pd.read_csv(tmp_path / "a" / "occlusion" / "occlusion_mpjpe.csv", index_col="method")
    assert list(table.columns) == ["clean", "mask 0.4", "crop 0.3"]
    assert {"HiPART (hier lifter)", "sparse lifter", "diffpose", "mixste-f5-sparse"} <= set(table.index)
    assert list(table.index[-2:]) == ["no detection (%)", "truncated frames (%)"]
    assert np.isfinite(table.to_numpy()).all()
    det = pd.read_csv(tmp_path / "a" / "occlusion" / "detector.csv", index_col="setting")
    assert det.loc["clean", "hidden joints (%)"] == 0 and det.loc["mask 0.4", "hidden joints (%)"] > 0
    for share in ("no detection (%)", "truncated frames (%)"):
        assert ((det[share] / 12.5) % 1 == 0).all()  # whole frames of the 8
        assert table.loc[share].tolist() == pytest.approx(det[share].tolist(), abs=1e-9)
    # a mask cuts nothing: its frames are truncated only by the image bounds, like the clean ones; every joint a
    # crop hides is cut off, so its frames count on top of those
    truncated = det["truncated frames (%)"]
    assert truncated["mask 0.4"] == truncated["clean"] and truncated["crop 0.3"] >= truncated["clean"]
    assert det.loc["crop 0.3", "hidden joints (%)"] > 0 and truncated["crop 0.3"] > 0
    assert np.isfinite(det.loc["clean", "2D error visible (px)"])
    model = OcclusionModel.from_dict(json.loads((tmp_path / "a" / "occlusion" / "keypoint_model.json").read_text()))
    assert "fitted from BlazePose" in model.source
    # the same seed again: every detection from the cache, the same numbers
    second = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "b")])
    assert second.exit_code == 0 and "0 new)" in second.output and ", 0 new" not in first.output.splitlines()[-1]
    again = pd.read_csv(tmp_path / "b" / "occlusion" / "occlusion_mpjpe.csv", index_col="method")
    pd.testing.assert_frame_equal(table, again)
    # the keypoint level reads the fitted model back
    kp = CliRunner().invoke(cli, ["bench", "occlusion", "--run", str(baseline_run), "--level", "keypoint", "--mask",
                                  "0.4", "--out", str(tmp_path / "c"), "--keypoint-model",
                                  str(tmp_path / "a" / "occlusion" / "keypoint_model.json")])
    assert kp.exit_code == 0, kp.output
    kp_meta = json.loads((tmp_path / "c" / "occlusion" / "meta.json").read_text())["settings"]
    assert kp_meta["level"] == "keypoint" and kp_meta["keypoint_model"] == model.to_dict()

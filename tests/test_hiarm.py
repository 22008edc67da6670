"""HiARM: causal masking, cached == uncached decoding, memorising tokens, the trainer and token cache, densify,
and the keypoint occlusion model it trains with."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from hipart.occlusion import OcclusionModel
from hipart.config import load_config
from hipart.errors import HipartError
from hipart.models.hiarm import HiARM, hiarm_loss
from hipart.skeleton import H36M
from hipart_cli.main import cli


def tiny_hiarm(seed: int = 0, **kw) -> HiARM:
    torch.manual_seed(seed)
    cfg = dataclasses.replace(load_config("tiny").hiarm, **kw)
    return HiARM(cfg, 2, 32, 32).eval()


def random_tokens(n: int, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, 17, 2, generator=g), torch.randint(0, 32, (n, 17), generator=g),
            torch.randint(0, 32, (n, 17, 2), generator=g))


def test_changing_a_later_part_never_changes_an_earlier_prediction():
    model = tiny_hiarm()
    x, q_s, q_d = random_tokens(3)
    base_s, base_d = model(x, q_s, q_d)
    order = H36M.part_order("center")
    k = 6  # change the tokens of the 7th visited part
    q_s2, q_d2 = q_s.clone(), q_d.clone()
    q_s2[:, order[k]] = (q_s2[:, order[k]] + 1) % 32
    q_d2[:, order[k]] = (q_d2[:, order[k]] + 5) % 32
    new_s, new_d = model(x, q_s2, q_d2)
    # steps 0..k predict parts 0..k from parts before them: unchanged; later steps see the change
    assert torch.equal(new_s[:, :k + 1], base_s[:, :k + 1]) and torch.equal(new_d[:, :k + 1], base_d[:, :k + 1])
    assert not torch.allclose(new_s[:, k + 1:], base_s[:, k + 1:])


def test_cached_and_uncached_decoding_give_identical_tokens():
    for order in ("center", "raster"):
        model = tiny_hiarm(seed=3, part_order=order)
        x, _, _ = random_tokens(16, seed=4)
        cached = model.generate(x, use_cache=True)
        full = model.generate(x, use_cache=False)
        assert torch.equal(cached[0], full[0]) and torch.equal(cached[1], full[1])
        # and greedy decoding is the argmax of teacher forcing on its own output
        logits_s, logits_d = model(x, *cached)
        assert torch.equal(logits_s.argmax(-1), cached[0][:, model.order])
        assert torch.equal(logits_d.argmax(-1), cached[1][:, model.order])
    assert tiny_hiarm(part_order="raster").order.tolist() == list(range(17))
    assert tiny_hiarm().order.tolist() == list(H36M.part_order("center"))


@pytest.mark.slow
def test_tiny_model_memorises_a_small_token_set():
    model = tiny_hiarm(seed=0).train()
    x, q_s, q_d = random_tokens(16, seed=7)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for _ in range(250):
        logits_s, logits_d = model(x, q_s, q_d)
        loss, terms = hiarm_loss(logits_s, logits_d, q_s, q_d, model.order, 1.5)
        first = first if first is not None else terms["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    gen_s, gen_d = model.generate(x)  # free-running decoding reproduces the memorised tokens
    assert terms["loss"] < 0.1 * first
    assert (gen_s == q_s).float().mean() > 0.95 and (gen_d == q_d).float().mean() > 0.95


# ---------------------------------------------------------------- trainer, token cache, densify


@pytest.fixture(scope="module")
def hiarm_run(tiny_msst, tiny_dataset, tmp_path_factory):
    from hipart.training.hiarm import train_hiarm

    msst_dir, _ = tiny_msst
    run = tmp_path_factory.mktemp("hiarm_run")
    out = run / "hiarm"
    summary = train_hiarm(load_config("tiny"), tiny_dataset, msst_dir / "checkpoint.pt", out, progress=False,
                          log=lambda m: None)
    (run / "msst").symlink_to(msst_dir)
    return run, summary


@pytest.mark.slow
def test_trainer_summary_and_cached_tokens(hiarm_run, tiny_msst, tiny_dataset):
    from hipart.models.hipart import HiPART
    from hipart.models.msst import MSST, PoseNormalizer
    from hipart.runs import StageDir
    from hipart.training.hiarm import cached_tokens
    from hipart.training.msst import load_pose_tensors

    run, summary = hiarm_run
    msst_path = tiny_msst[0] / "checkpoint.pt"
    msst, _ = MSST.load(msst_path)
    test = load_pose_tensors(tiny_dataset, "test")
    # the summary's scores, recomputed: greedy decoding of every test frame with the saved checkpoints against the
    # MSST tokens and the true fine pose
    t = summary["test"]
    assert t["frames"] == len(test) == 960
    x_s_px = PoseNormalizer.denormalize(test.x_s, test.root, test.scale)
    out = HiPART.from_run(run, "cpu", with_lifter=False).densify(x_s_px)
    true_s, true_d = msst.tokenize(test.x_f)
    assert t["acc_s"] == pytest.approx((out["q_s"] == true_s).float().mean().item(), abs=1e-6)
    assert t["acc_d"] == pytest.approx((out["q_d"].reshape(len(test), -1) == true_d).float().mean().item(), abs=1e-6)
    x_f_px = PoseNormalizer.denormalize(test.x_f, test.root, test.scale)
    assert t["x_f_px"] == pytest.approx((out["x_f"] - x_f_px).norm(dim=-1).mean().item(), rel=1e-5)
    assert t["acc_s"] > 1 / 32 * 5  # far above chance after two tiny epochs (measured 0.55)
    # parameters by counting the saved model's; FPS is a measurement: both paths timed, nothing more to check
    hiarm, _ = HiARM.load(run / "hiarm" / "checkpoint.pt")
    assert summary["complexity"]["params"] == summary["complexity"]["trainable_params"] == \
        sum(p.numel() for p in hiarm.parameters())
    assert summary["msst_complexity"]["params"] == sum(p.numel() for p in msst.parameters())
    assert summary["msst_complexity"]["trainable_params"] == 0  # frozen while HiARM trains
    assert set(summary["decoding"]) == {"fps_cached", "fps_uncached"}
    cache = run / "hiarm" / "tokens_test_gt.pt"
    stamp = cache.stat().st_mtime_ns
    q_s, q_d = cached_tokens(msst, msst_path, "test", test, StageDir(run / "hiarm"), torch.device("cpu"))
    assert cache.stat().st_mtime_ns == stamp  # reused, not recomputed
    fresh_s, fresh_d = msst.tokenize(test.x_f)
    assert torch.equal(q_s, fresh_s) and torch.equal(q_d.reshape(len(test), -1), fresh_d)


@pytest.mark.slow
def test_densify_cli_round_trip_and_bad_inputs(hiarm_run, tiny_dataset, tmp_path):
    from hipart.data.dataset import PoseDataset
    from hipart.models.hipart import HiPART

    run, _ = hiarm_run
    a = PoseDataset(tiny_dataset, "test", fields=("x_s",), normalize=False).arrays()
    np.save(tmp_path / "kp.npy", a["x_s"][:12])
    np.savez(tmp_path / "kp.npz", keypoints=a["x_s"][:12])
    runner = CliRunner()
    res = runner.invoke(cli, ["densify", "--run", str(run), "--input", str(tmp_path / "kp.npy"),
                              "--out", str(tmp_path / "d.npz")])
    assert res.exit_code == 0, res.output
    out = np.load(tmp_path / "d.npz")
    assert out["x_d"].shape == (12, 48, 2) and out["x_f"].shape == (12, 96, 2)
    direct = HiPART.from_run(run, "cpu", with_lifter=False).densify(a["x_s"][:12])
    np.testing.assert_allclose(out["x_f"], direct["x_f"].numpy(), atol=1e-4)
    res_npz = runner.invoke(cli, ["densify", "--run", str(run), "--input", str(tmp_path / "kp.npz"),
                                  "--out", str(tmp_path / "d2.npz"), "--no-cache"])
    assert res_npz.exit_code == 0 and np.array_equal(np.load(tmp_path / "d2.npz")["q_d"], out["q_d"])
    np.save(tmp_path / "bad.npy", a["x_s"][:4, :16])
    bad = runner.invoke(cli, ["densify", "--run", str(run), "--input", str(tmp_path / "bad.npy"),
                              "--out", str(tmp_path / "x.npz")])
    assert bad.exit_code == 1 and "expected (N, 17, 2)" in bad.output and not (tmp_path / "x.npz").exists()
    nan = a["x_s"][:4].copy()
    nan[0, 3, 0] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    res_nan = runner.invoke(cli, ["densify", "--run", str(run), "--input", str(tmp_path / "nan.npy")])
    assert res_nan.exit_code == 1 and "NaN" in res_nan.output
    again = runner.invoke(cli, ["train", "hiarm", "--config", "tiny", "--data", str(tiny_dataset),
                                "--out", str(run / "hiarm"), "--msst", str(run / "msst" / "checkpoint.pt")])
    assert again.exit_code == 1 and "--resume" in again.output


@pytest.mark.slow
def test_hiarm_refuses_an_msst_of_another_hierarchy(tiny_msst, tmp_path, tiny_dataset):
    import shutil

    from hipart.training.hiarm import train_hiarm

    bad = tmp_path / "msst.pt"
    shutil.copy(tiny_msst[0] / "checkpoint.pt", bad)
    ckpt = torch.load(bad, weights_only=True)
    ckpt["hierarchy_hash"] = "0" * 64
    torch.save(ckpt, bad)
    with pytest.raises(HipartError, match="another hierarchy"):
        train_hiarm(load_config("tiny"), tiny_dataset, bad, tmp_path / "h", progress=False, log=lambda m: None)


@pytest.mark.slow
def test_training_with_occlusion_augmentation_runs(tiny_msst, tiny_dataset, tmp_path):
    from hipart.training.hiarm import observed_condition, train_hiarm
    from hipart.training.msst import load_pose_tensors

    data = load_pose_tensors(tiny_dataset, "test", max_items=64)
    a = observed_condition(data.x_s, data.root, data.scale, np.random.default_rng(3), OcclusionModel())
    b = observed_condition(data.x_s, data.root, data.scale, np.random.default_rng(3), OcclusionModel())
    assert torch.equal(a, b) and not torch.allclose(a, data.x_s)
    runs = {}
    for augment in (True, False):  # the same seeds: only the augmentation tells the two runs apart
        cfg = load_config("tiny", {"hiarm": {"occlusion_augment": augment, "epochs": 1}})
        summary = train_hiarm(cfg, tiny_dataset, tiny_msst[0] / "checkpoint.pt", tmp_path / str(augment),
                              progress=False, log=lambda m: None)
        assert summary["epochs"] == 1 and summary["test"]["frames"] == 960
        runs[augment] = torch.load(tmp_path / str(augment) / "checkpoint.pt", weights_only=True)
    assert runs[True]["config"]["hiarm"]["occlusion_augment"] is True
    assert runs[True]["metrics"][0]["loss"] != runs[False]["metrics"][0]["loss"]
    assert any(not torch.equal(v, runs[False]["model"][k]) for k, v in runs[True]["model"].items())

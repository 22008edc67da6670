"""HiARM: causal masking, static cache == growing cache == uncached decoding, the fast decoder (compiled tokens ==
eager tokens, the fallback when compiling fails), memorising tokens, the trainer and token cache, densify, and the
keypoint occlusion model it trains with."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from hipart.occlusion import OcclusionModel
from hipart.config import HiARMConfig, load_config
from hipart.errors import HipartError
from hipart.models import fast
from hipart.models.fast import FastDecoder, check_compile, check_precision, pad_rows, padded_batch
from hipart.models.hiarm import HiARM, hiarm_loss
from hipart.models.hiarm_fast import StaticDecoder
from hipart.skeleton import H36M
from hipart.training.engine import reorder_optimizer_state
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


def pinned_shape_hiarm(seed: int = 0) -> HiARM:
    """A random HiARM of the pinned run's architecture (tests/test_hipart_model.py): compiled once for both."""
    torch.manual_seed(seed)
    return HiARM(HiARMConfig(num_blocks=1, dim=16, heads=2, dropout=0.0), 2, 16, 16).eval()


def test_static_looped_growing_and_uncached_decoding_give_identical_tokens():
    for order in ("center", "raster"):
        model = tiny_hiarm(seed=3, part_order=order)
        x, _, _ = random_tokens(16, seed=4)
        cached = model.generate(x, use_cache=True)
        full = model.generate(x, use_cache=False)
        with torch.inference_mode():
            static = StaticDecoder(model).decode(x)
            looped = StaticDecoder(model).decode_looped(x)
            # a batch of one has other strides unless made row-major
            looped_one = StaticDecoder(model).decode_looped(x[:1])
        assert torch.equal(cached[0], full[0]) and torch.equal(cached[1], full[1])
        assert torch.equal(static[0], cached[0]) and torch.equal(static[1], cached[1])
        assert torch.equal(looped[0], cached[0]) and torch.equal(looped[1], cached[1])
        assert torch.equal(looped_one[0], cached[0][:1]) and torch.equal(looped_one[1], cached[1][:1])
        # and greedy decoding is the argmax of teacher forcing on its own output
        logits_s, logits_d = model(x, *cached)
        assert torch.equal(logits_s.argmax(-1), cached[0][:, model.order])
        assert torch.equal(logits_d.argmax(-1), cached[1][:, model.order])
    assert tiny_hiarm(part_order="raster").order.tolist() == list(range(17))
    assert tiny_hiarm().order.tolist() == list(H36M.part_order("center"))


@pytest.mark.slow  # compiling takes 20-50 s on two shared cores
def test_compiled_fast_decoding_gives_the_eager_tokens():
    model = pinned_shape_hiarm(seed=5)
    decoder = FastDecoder(model, compile=True)
    for n in (6, 1):
        x = torch.randn(n, 17, 2, generator=torch.Generator().manual_seed(n))
        q_s, q_d = decoder(x)
        ref_s, ref_d = model.generate(x)
        assert decoder.compiled and torch.equal(q_s, ref_s) and torch.equal(q_d, ref_d)
    assert not decoder.warned


def test_a_failing_compile_falls_back_to_eager_with_one_warning(monkeypatch):
    model = pinned_shape_hiarm(seed=1)
    x = torch.randn(4, 17, 2, generator=torch.Generator().manual_seed(0))
    ref = model.generate(x)

    def broken_compile(fn, **kw):  # torch.compile succeeds lazily; the failure comes at the first call
        def run(*args):
            raise RuntimeError("C++ compile error: cannot find gcc\nmore lines")
        return run

    monkeypatch.setattr(fast.torch, "compile", broken_compile)
    decoder = FastDecoder(model, compile="auto", compile_after=0)
    with pytest.warns(RuntimeWarning, match=r"torch.compile failed .*RuntimeError: C\+\+ compile error: cannot find "
                                            r"gcc\); running eagerly from now on"):
        first = decoder(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second warning would raise here
        second = decoder(x)
    assert len(decoder.warned) == 1 and not decoder.compiled
    for out in (first, second):
        assert torch.equal(out[0], ref[0]) and torch.equal(out[1], ref[1])
    with pytest.raises(HipartError, match="torch.compile failed .* compile=False"):  # forced: no fallback
        FastDecoder(model, compile=True)(x)
    assert FastDecoder(model, compile=False)(x)[1].equal(ref[1])  # never tries


def test_auto_compiles_once_eager_decoding_has_taken_compile_after_seconds(monkeypatch):
    compiled = []

    def identity_compile(fn, **kw):  # records what is compiled, compiles nothing
        compiled.append(fn.__name__)
        return fn

    ticks = iter(range(1000))  # a clock that advances one second each time it is read
    monkeypatch.setattr(fast, "perf_counter", lambda: float(next(ticks)))
    monkeypatch.setattr(fast.torch, "compile", identity_compile)
    decoder = FastDecoder(pinned_shape_hiarm(), compile="auto", compile_after=2.0)
    x = torch.randn(3, 17, 2)
    decoder(x)
    assert compiled == [] and not decoder.compiled and decoder.policy.eager_seconds == 1.0
    decoder(x)  # 2 s spent eagerly: the next call compiles
    assert compiled == [] and decoder.policy.eager_seconds == 2.0
    decoder(x), decoder(x)
    # once, the whole decoding as one program on the CPU (torch.while_loop, run uncompiled, calls torch.compile too)
    pieces = ("start", "step", "tokens", "decode", "decode_looped")  # StaticDecoder's
    assert [name for name in compiled if name in pieces] == ["decode_looped"] and decoder.compiled
    assert decoder.policy.eager_seconds == 2.0  # compiled calls are not counted
    assert FastDecoder(pinned_shape_hiarm()).policy.compile_after == fast.AUTO_EAGER_SECONDS
    assert FastDecoder(pinned_shape_hiarm(), compile=True, compile_after=5).policy.compile_after == 0
    assert FastDecoder(pinned_shape_hiarm(), compile=True).policy.hot


def test_compile_and_precision_choices_are_checked():
    assert [check_compile(c) for c in (True, False, "auto", "TRUE", "false")] == [True, False, "auto", True, False]
    for bad in ("yes", 1, None):
        with pytest.raises(HipartError, match="compile must be True, False or 'auto'"):
            check_compile(bad)
    assert check_precision("bf16", torch.device("cpu")) == "bf16"
    with pytest.raises(HipartError, match="fp16 decoding needs a CUDA device"):
        check_precision("fp16", torch.device("cpu"))
    with pytest.raises(HipartError, match="precision must be one of fp32, bf16, fp16"):
        FastDecoder(pinned_shape_hiarm(), precision="int8")


def test_bf16_decoding_on_cpu_agrees_with_fp32_on_nearly_all_tokens():
    model = tiny_hiarm(seed=2)
    x, _, _ = random_tokens(64, seed=9)
    ref_s, ref_d = model.generate(x)
    q_s, q_d = FastDecoder(model, compile=False, precision="bf16")(x)
    agreement = torch.cat([(q_s == ref_s).flatten(), (q_d == ref_d).flatten()]).float().mean().item()
    # bf16 blocks round some near-ties the other way (the output heads stay fp32): 8 of 3264 tokens here
    assert q_s.dtype == torch.long and 0.99 <= agreement < 1.0


# HiARM's state dict before LSAB, GCSAB and the prediction head were modules: the pinned run's (made at commit
# 0ac1392, tests/test_hipart_model.py), whose predict output is pinned there.
PINNED = Path(__file__).parent / "data" / "hipart_pinned.pt"
# old key -> key now, written out by hand (one of each kind; the pinned run has one GCSAB block)
OLD_TO_NEW = {"slot": "lsab.slot", "pos": "gcsab.pos", "query": "head.query",
              "cond_embed.weight": "cond_embed.weight", "embed_s.weight": "lsab.embed_s.weight",
              "embed_d.weight": "lsab.embed_d.weight", "part.weight": "lsab.part.weight",
              "lsab.attn.qkv.weight": "lsab.block.attn.qkv.weight", "lsab.mlp.0.weight": "lsab.block.mlp.hidden.weight",
              "blocks.0.norm1.bias": "gcsab.blocks.0.norm1.bias", "blocks.0.mlp.3.bias": "gcsab.blocks.0.mlp.out.bias",
              "norm.weight": "gcsab.norm.weight", "target_part.weight": "head.target_part.weight",
              "head_block.mlp.3.weight": "head.block.mlp.out.weight", "head_norm.bias": "head.norm.bias",
              "head_s.weight": "head.to_sparse.weight", "head_d.bias": "head.to_dense.bias"}


def old_layout_hiarm() -> tuple[HiARM, dict[str, torch.Tensor]]:
    pinned = torch.load(PINNED, weights_only=True)["hiarm"]
    return HiARM.from_args(pinned["model_args"]).eval(), pinned["model"]


def test_a_state_dict_of_the_layout_before_the_named_parts_loads_and_decodes_alike():
    model, old = old_layout_hiarm()
    assert "embed_s.weight" in old and "blocks.0.mlp.0.weight" in old  # it is the old layout
    model.load_state_dict(old)  # strict: every key placed, none left over
    new = model.state_dict()
    assert len(new) == len(old)
    for old_key, new_key in OLD_TO_NEW.items():
        assert torch.equal(new[new_key], old[old_key]), old_key
    x = torch.randn(6, 17, 2, generator=torch.Generator().manual_seed(0))
    ref_s, ref_d = model.generate(x)
    again = HiARM.from_args(torch.load(PINNED, weights_only=True)["hiarm"]["model_args"]).eval()
    again.load_state_dict(new)  # the current layout loads as it is
    for q_s, q_d in (again.generate(x), again.generate(x, use_cache=False), StaticDecoder(model).decode(x)):
        assert torch.equal(q_s, ref_s) and torch.equal(q_d, ref_d)


def test_optimizer_state_of_an_old_layout_checkpoint_is_reordered_to_the_parameters():
    model, old = old_layout_hiarm()
    model.load_state_dict(old)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x, q_s, q_d = random_tokens(4)
    q_s, q_d = q_s % model.K_s, q_d % model.K_d
    hiarm_loss(*model(x, q_s, q_d), q_s, q_d, model.order, 1.5)[0].backward()
    optimizer.step()
    now = optimizer.state_dict()
    names = [name for name, _ in model.named_parameters()]

    def current(old_key: str) -> str:  # the old layout's key -> its name now, by the rules of the table above
        key = OLD_TO_NEW.get(old_key) or old_key
        for old_prefix, new_prefix in (("embed_", "lsab.embed_"), ("part.", "lsab.part."), ("lsab.", "lsab.block."),
                                       ("blocks.", "gcsab.blocks."), ("norm.", "gcsab.norm."),
                                       ("target_part.", "head.target_part."), ("head_block.", "head.block."),
                                       ("head_norm.", "head.norm."), ("head_s.", "head.to_sparse."),
                                       ("head_d.", "head.to_dense.")):
            if old_key not in OLD_TO_NEW and key.startswith(old_prefix):
                key = new_prefix + key[len(old_prefix):]
                break
        return key.replace(".mlp.0.", ".mlp.hidden.").replace(".mlp.3.", ".mlp.out.")

    at = [names.index(current(k)) for k in old]  # the old layout's i-th parameter is the at[i]-th now
    assert sorted(at) == list(range(len(names))) and at != sorted(at)  # the order did change
    saved = {"state": {i: now["state"][j] for i, j in enumerate(at)},
             "param_groups": [{**now["param_groups"][0], "params": list(range(len(at)))}]}
    reordered = reorder_optimizer_state(model, old, saved)
    assert reordered["param_groups"][0]["params"] == now["param_groups"][0]["params"]
    for i, state in now["state"].items():
        assert torch.equal(reordered["state"][i]["exp_avg"], state["exp_avg"])
    resumed = torch.optim.AdamW(model.parameters(), lr=1e-3)
    resumed.load_state_dict(reordered)
    for p in model.parameters():
        assert resumed.state[p]["exp_avg"].shape == p.shape
    assert reorder_optimizer_state(model, model.state_dict(), now) is now  # the current layout: as saved


def test_graph_batches_are_padded_to_powers_of_two_without_changing_tokens():
    assert [padded_batch(b) for b in (1, 2, 3, 5, 256, 257, 1000)] == [1, 2, 4, 8, 256, 512, 1024]
    model = pinned_shape_hiarm(seed=2)
    x = torch.randn(5, 17, 2, generator=torch.Generator().manual_seed(3))
    padded = pad_rows(x, 8)
    assert padded.shape == (8, 17, 2) and torch.equal(padded[5:], x[4:].expand(3, 17, 2))
    with torch.no_grad():
        q_s, q_d = StaticDecoder(model).decode(padded)
    ref_s, ref_d = model.generate(x)
    assert torch.equal(q_s[:5], ref_s) and torch.equal(q_d[:5], ref_d)  # rows never see each other


def memorise(model: HiARM, x, q_s, q_d, c=None, steps: int = 250) -> tuple[float, float]:
    """Teacher-force ``model`` on a few frames' tokens (AdamW, lr 3e-3); its first and last loss, model in eval."""
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(steps):
        logits_s, logits_d = model(x, q_s, q_d, c)
        loss, terms = hiarm_loss(logits_s, logits_d, q_s, q_d, model.order, 1.5)
        losses.append(terms["loss"])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return losses[0], losses[-1]


@pytest.mark.slow
def test_tiny_model_memorises_a_small_token_set():
    model = tiny_hiarm(seed=0)
    x, q_s, q_d = random_tokens(16, seed=7)
    first, last = memorise(model, x, q_s, q_d)
    gen_s, gen_d = model.generate(x)  # free-running decoding reproduces the memorised tokens
    assert last < 0.1 * first
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
                                  "--out", str(tmp_path / "d2.npz"), "--decoding", "uncached"])
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
    a, c_a = observed_condition(data.x_s, data.root, data.scale, data.confidence, np.random.default_rng(3),
                                OcclusionModel())
    b, c_b = observed_condition(data.x_s, data.root, data.scale, data.confidence, np.random.default_rng(3),
                                OcclusionModel())
    assert torch.equal(a, b) and not torch.allclose(a, data.x_s)
    # true keypoints have confidence 1, the joints under an occluder 0: a frame whose joints all keep 1 is the
    # clean pose, one with a joint at 0 was moved (the default model displaces every hidden joint)
    assert torch.equal(c_a, c_b) and set(c_a.unique().tolist()) == {0.0, 1.0}
    clean = (c_a == 1).all(dim=1)
    assert 0 < clean.sum() < len(clean)
    torch.testing.assert_close(a[clean], data.x_s[clean])
    assert ((a[~clean] - data.x_s[~clean]).abs().amax(dim=(1, 2)) > 1e-3).all()
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

"""The HiPART inference object: one call from a run folder to 48/96-joint 2D and 3D, pinned to the output that
`hipart predict` gave before the object existed, its three decodings (fast, cached, uncached) giving the same
tokens, and its checks that a run's checkpoints belong together."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from hipart.checkpoints import save_checkpoint
from hipart.densify import check_keypoint_range
from hipart.errors import HipartError
from hipart.io import file_sha256
from hipart.models.hipart import HiPART
from hipart.runs import RunLayout
from hipart_cli.main import cli

# Made at commit 0ac1392 (before HiPART.from_run existed): a tiny run (MSST dim 8, HiARM dim 16, lifter dim 16,
# one epoch each on the tiny default dataset), the weights of its three stages, six test-split sparse poses and what
# `hipart predict --run RUN --input kp.npy --image-size 1000 1002 --device cpu` wrote for them.
PINNED = Path(__file__).parent / "data" / "hipart_pinned.pt"


def pinned_run(folder: Path) -> tuple[RunLayout, dict]:
    """The pinned weights written as a run folder in the current checkpoint format."""
    fix = torch.load(PINNED, weights_only=True)
    run = RunLayout(folder)
    for name, stage in (("msst", run.msst), ("hiarm", run.hiarm), ("lifter_hier", run.lifter("hier"))):
        kind = "lifter" if name.startswith("lifter") else name
        payload = {"kind": kind, "finished": True, **fix[name]}
        if name == "hiarm":
            payload["msst_sha256"] = file_sha256(run.msst.checkpoint)
        save_checkpoint(stage.checkpoint, payload)
    run.config.write_text("name: pinned\n")
    return run, fix


def test_from_run_reproduces_the_pinned_predict_output(tmp_path):
    run, fix = pinned_run(tmp_path / "run")
    model = HiPART.from_run(run.root, "cpu")
    out = model(fix["x_s"], fix["image_size"])
    # rtol 1e-6: a few float32 ulps at hundreds of px / mm, where BLAS kernels of other CPUs round differently (a
    # token that changed would move joints by pixels)
    for key in ("x_d", "x_f"):
        torch.testing.assert_close(out[key], fix[f"expected_{key}"], atol=1e-4, rtol=1e-6)
    torch.testing.assert_close(out["X"], fix["expected_X"], atol=1e-3, rtol=1e-6)
    # the same through the CLI, whose output file is what was pinned
    np.save(tmp_path / "kp.npy", fix["x_s"].numpy())
    w, h = (str(int(v)) for v in fix["image_size"])
    res = CliRunner().invoke(cli, ["predict", "--run", str(run.root), "--input", str(tmp_path / "kp.npy"),
                                   "--image-size", w, h, "--out", str(tmp_path / "p.npz"), "--device", "cpu",
                                   "--no-compile"])
    assert res.exit_code == 0, res.output
    np.testing.assert_allclose(np.load(tmp_path / "p.npz")["X"], fix["expected_X"].numpy(), atol=1e-3, rtol=1e-6)


def test_densify_lift_and_call_agree(tmp_path):
    run, fix = pinned_run(tmp_path / "run")
    model = HiPART.from_run(run.root, "cpu", compile=False)  # compiling is tested below
    levels = model.levels(fix["x_s"])
    assert levels.shape == (6, 17 + 48 + 96, 2) and torch.equal(levels[:, :17], fix["x_s"])
    torch.testing.assert_close(model.lift(levels, fix["image_size"]), model(fix["x_s"], fix["image_size"])["X"])
    # batching does not change the tokens: one frame at a time equals all at once
    one_by_one = torch.cat([model.densify(fix["x_s"][i:i + 1])["q_d"] for i in range(6)])
    assert torch.equal(one_by_one, model.densify(fix["x_s"])["q_d"])
    uncached, cached, fast = (model.densify(fix["x_s"], decoding) for decoding in ("uncached", "cached", "fast"))
    for other in (cached, fast):
        assert torch.equal(other["q_s"], uncached["q_s"]) and torch.equal(other["q_d"], uncached["q_d"])
        torch.testing.assert_close(other["x_f"], uncached["x_f"], atol=1e-4, rtol=0)
    with pytest.raises(HipartError, match="decoding must be one of fast, cached, uncached"):
        model.densify(fix["x_s"], "greedy")


@pytest.mark.slow  # compiling takes 20-50 s on two shared cores
def test_compiled_fast_path_equals_the_eager_path_on_the_pinned_run(tmp_path):
    run, fix = pinned_run(tmp_path / "run")
    model = HiPART.from_run(run.root, "cpu", compile=True)
    for x in (fix["x_s"], fix["x_s"][:1]):
        fast, eager = model.densify(x), model.densify(x, "cached")
        assert model.decoder.compiled and model._levels.active  # the decoding and MSST's decoders ran compiled
        assert torch.equal(fast["q_s"], eager["q_s"]) and torch.equal(fast["q_d"], eager["q_d"])
        # the compiled MSST decoders round differently: a few float32 ulps at hundreds of px
        torch.testing.assert_close(fast["x_f"], eager["x_f"], atol=1e-4, rtol=1e-6)
    torch.testing.assert_close(model(fix["x_s"], fix["image_size"])["X"], fix["expected_X"], atol=1e-3, rtol=0)


def test_fast_densify_outputs_can_feed_training(tmp_path):
    run, fix = pinned_run(tmp_path / "run")
    out = HiPART.from_run(run.root, "cpu", with_lifter=False, compile=False).densify(fix["x_s"])
    assert not any(v.is_inference() for v in out.values())  # made under inference mode, handed out as copies
    layer = torch.nn.Linear(2, 1)
    layer(out["x_f"]).sum().backward()  # an inference tensor here would fail: it cannot be saved for backward
    assert layer.weight.grad is not None


def test_from_run_refuses_stages_that_do_not_belong_together(tmp_path):
    run, _ = pinned_run(tmp_path / "run")
    ckpt = torch.load(run.hiarm.checkpoint, weights_only=True)
    ckpt["msst_sha256"] = "0" * 64
    save_checkpoint(run.hiarm.checkpoint, ckpt)
    with pytest.raises(HipartError, match="another MSST checkpoint"):
        HiPART.from_run(run.root, "cpu")
    run, _ = pinned_run(tmp_path / "run2")
    ckpt = torch.load(run.lifter("hier").checkpoint, weights_only=True)
    ckpt["hierarchy_hash"] = "f" * 64
    save_checkpoint(run.lifter("hier").checkpoint, ckpt)
    with pytest.raises(HipartError, match="different hierarchies"):
        HiPART.from_run(run.root, "cpu")
    assert HiPART.from_run(run.root, "cpu", with_lifter=False).lifter is None  # densifying needs no lifter
    with pytest.raises(HipartError, match="checkpoint not found"):
        HiPART.from_run(tmp_path / "nowhere", "cpu")


def test_sampled_decoding_is_repeatable_for_a_seed_and_differs_from_greedy(tmp_path):
    run, fix = pinned_run(tmp_path / "run")
    model = HiPART.from_run(run.root, "cpu", compile=False)
    x = fix["x_s"].repeat(20, 1, 1)
    greedy = model.densify(x, "cached")
    a, b = (model.densify(x, "cached", temperature=1.0, seed=3) for _ in range(2))
    c = model.densify(x, "cached", temperature=1.0, seed=4)
    assert torch.equal(a["q_d"], b["q_d"]) and torch.equal(a["x_f"], b["x_f"])
    assert not torch.equal(a["q_d"], c["q_d"]) and not torch.equal(a["q_d"], greedy["q_d"])
    # a temperature near zero is the argmax
    cold = model.densify(x, "uncached", temperature=1e-6, seed=3)
    assert torch.equal(cold["q_s"], greedy["q_s"]) and torch.equal(cold["q_d"], greedy["q_d"])
    with pytest.raises(HipartError, match="eager decoding"):
        model.densify(x, "fast", temperature=1.0)


def test_one_keypoint_range_check_for_densify_and_predict():
    x = np.full((2, 17, 2), 500.0, dtype=np.float32)
    assert check_keypoint_range(x, "kp.npy") is x  # no image size: anything a pixel can be
    assert check_keypoint_range(x, "kp.npy", (100, 50)) is x  # 500 px: within 10 image sizes of a 100 x 50 image
    with pytest.raises(HipartError, match=r"kp.npy: keypoints reach 1\.1e\+03 px, more than 10 image sizes outside "
                                          r"a 100 x 50 image"):
        check_keypoint_range(x * 2.2, "kp.npy", (100, 50))
    x[1, 3, 1] = -2e6
    with pytest.raises(HipartError, match=r"kp.npy: keypoints reach 2e\+06 px, beyond any image \(1e\+06 px\)"):
        check_keypoint_range(x, "kp.npy")

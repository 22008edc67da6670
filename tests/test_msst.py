"""MSST: shapes and masks, the quantizer (straight-through, EMA by hand, restarts), InfoNCE, overfitting, the
trainer (checkpoint round trip, exact resume, torchrun DDP) and FLOP counting."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from hipart.config import load_config
from hipart.errors import HipartError
from hipart.models.complexity import count_params_flops
from hipart.models.msst import MSST, PoseNormalizer, group_mask, info_nce, msst_loss, part_token_mask
from hipart.models.quantizer import EMAQuantizer
from hipart.skeleton import H36M
from hipart.training.msst import evaluate_msst, load_pose_tensors, train_msst
from hipart_cli.main import cli


def tiny_cfg(**kw):
    return dataclasses.replace(load_config("tiny").msst, **kw)


def test_shapes_and_decode_agree():
    torch.manual_seed(0)
    cfg = tiny_cfg()
    parts = np.arange(96) % 17
    model = MSST(cfg, 96, 48, parts).eval()
    out = model(torch.randn(5, 96, 2))
    r = cfg.tokens_per_part
    assert out.q_s.shape == (5, 17) and out.q_d.shape == (5, 17 * r)
    assert out.x_d.shape == (5, 48, 2) and out.x_f.shape == (5, 96, 2) and out.action_logits.shape == (5, 15)
    x_d, x_f = model.decode(out.q_s, out.q_d)  # decoding the indices reproduces the forward's reconstructions
    assert torch.allclose(x_d, out.x_d, atol=1e-6) and torch.allclose(x_f, out.x_f, atol=1e-6)


def test_part_masks_follow_labels_and_fall_back_to_the_parent():
    parts = np.arange(96) % 17
    parts[parts == H36M.index("LHip")] = H36M.index("Pelvis")  # no fine cluster left for the left hip
    mask = part_token_mask(parts, 3, 96)
    lhip, pelvis = H36M.index("LHip"), H36M.index("Pelvis")
    assert mask.shape == (51, 96)
    assert torch.equal(mask[3 * lhip], torch.as_tensor(parts == pelvis, dtype=torch.float32))
    wrist = H36M.index("RWrist")
    assert torch.equal(mask[3 * wrist + 2], torch.as_tensor(parts == wrist, dtype=torch.float32))
    assert torch.equal(part_token_mask(np.full(96, -1), 3, 96), torch.ones(51, 96))
    assert torch.equal(group_mask(2, 3), torch.tensor([[1.0, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]]))
    # a masked projection really ignores other parts' joints
    torch.manual_seed(0)
    model = MSST(tiny_cfg(), 96, 48, np.arange(96) % 17)
    x = torch.randn(1, 96, 2)
    y = x.clone()
    y[0, np.arange(96) % 17 != wrist] += 1.0  # move every joint but the right wrist's
    proj = model.E_f.project
    feats = model.E_f.norm(model.E_f.blocks(model.E_f.embed(x)))
    feats_y = feats.clone()
    feats_y[0, np.arange(96) % 17 != wrist] += 5.0
    r = model.cfg.tokens_per_part
    assert torch.allclose(proj(feats)[0, r * wrist:r * wrist + r], proj(feats_y)[0, r * wrist:r * wrist + r])


def test_straight_through_gradient_is_identity():
    q = EMAQuantizer(8, 4)
    q.train()
    z = torch.randn(3, 5, 4, requires_grad=True)
    out = q(z)
    assert out.z_q.shape == z.shape and out.indices.shape == (3, 5)
    (out.z_q * torch.arange(4.0)).sum().backward()
    assert torch.equal(z.grad, torch.arange(4.0).expand(3, 5, 4))


def test_ema_update_on_a_hand_made_batch():
    q = EMAQuantizer(2, 2, decay=0.5, eps=0.0, restart_every=0)
    with torch.no_grad():
        q.codebook.copy_(torch.tensor([[0.0, 0.0], [10.0, 10.0]]))
        q.embed_sum.copy_(q.codebook)
        q.cluster_size.fill_(1.0)
        q.initialized.fill_(True)
    z = torch.tensor([[1.0, 1.0], [2.0, 0.0], [9.0, 9.0]])
    out = q(z)
    assert out.indices.tolist() == [0, 0, 1]
    assert torch.equal(out.z_q, torch.tensor([[0.0, 0.0], [0.0, 0.0], [10.0, 10.0]]))  # codes before the update
    # N = 0.5 [1, 1] + 0.5 [2, 1] = [1.5, 1]; S = 0.5 C + 0.5 [[3, 1], [9, 9]] = [[1.5, .5], [9.5, 9.5]]
    assert torch.allclose(q.cluster_size, torch.tensor([1.5, 1.0]))
    assert torch.allclose(q.codebook, torch.tensor([[1.0, 1.0 / 3.0], [9.5, 9.5]]))
    assert torch.allclose(out.commitment, torch.tensor((2 + 4 + 0 + 2) / 6.0))
    assert abs(out.perplexity.item() - np.exp(-(2 / 3 * np.log(2 / 3) + 1 / 3 * np.log(1 / 3)))) < 1e-5


def test_unused_codes_restart_on_recent_outputs():
    torch.manual_seed(0)
    q = EMAQuantizer(16, 2, restart_every=5)
    q.train()
    for _ in range(5):  # every output sits near (3, 3): most codes never win
        q(torch.full((32, 2), 3.0) + 0.01 * torch.randn(32, 2))
    assert q.window_hits.sum() == 0  # the check ran and reset its window
    assert (q.codebook - 3.0).abs().max() < 0.1  # every code now sits on a recent output


def test_info_nce_equals_a_direct_computation():
    torch.manual_seed(0)
    a, p, tau = torch.randn(6, 4), torch.randn(6, 4), 0.07
    expected = 0.0
    for i in range(6):
        sims = torch.stack([F.cosine_similarity(a[i], p[j], dim=0) for j in range(6)]) / tau
        expected += -(sims[i] - torch.logsumexp(sims, dim=0))
    assert torch.allclose(info_nce(a, p, tau), expected / 6, atol=1e-5)


@pytest.mark.slow
def test_tiny_model_overfits_64_poses(tiny_dataset, anny_hierarchy):
    torch.manual_seed(0)
    data = load_pose_tensors(tiny_dataset, "train", max_items=64)
    cfg = tiny_cfg()
    model = MSST(cfg, 96, 48, anny_hierarchy.parts[0])
    before = evaluate_msst(model, data)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    losses = []
    for _ in range(300):
        out = model(data.x_f)
        loss, terms = msst_loss(out, data.x_d, data.x_f, data.action, cfg)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(terms["recon_f"])
    after = evaluate_msst(model, data)
    assert before["x_f_px"] > 80 and after["x_f_px"] < 20 and after["x_d_px"] < 20  # measured ~120 -> ~10 px
    assert np.mean(losses[-20:]) < 0.3 * np.mean(losses[:20])
    assert after["codes_used_s"] > 1 and after["codes_used_d"] > 1  # no collapse onto one code


def test_normalizer_round_trip():
    x_s = torch.randn(4, 17, 2) * 100 + 500
    x = torch.randn(4, 96, 2) * 100 + 500
    root, scale = PoseNormalizer.frame(x_s)
    n = PoseNormalizer.normalize(x_s, root, scale)
    assert torch.allclose(n[:, 0], torch.zeros(4, 2), atol=1e-6)
    assert torch.allclose(n.pow(2).sum(-1).mean(-1), torch.ones(4), atol=1e-5)
    assert torch.allclose(PoseNormalizer.denormalize(PoseNormalizer.normalize(x, root, scale), root, scale), x,
                          atol=1e-4)


def test_flops_of_a_linear_layer_are_exact():
    counts = count_params_flops(torch.nn.Linear(10, 20), torch.zeros(4, 10))
    assert counts["params"] == 10 * 20 + 20 and counts["flops"] == 2 * 4 * 10 * 20
    assert counts["flops_per_item"] == 2 * 10 * 20


# ---------------------------------------------------------------- trainer


@pytest.fixture()
def trained(tiny_msst):
    return tiny_msst


@pytest.mark.slow
def test_training_writes_checkpoint_metrics_and_summary(trained, tiny_dataset):
    out, summary = trained
    metrics = pd.read_csv(out / "metrics.csv")
    assert list(metrics["epoch"]) == [1, 2]
    for col in ("loss", "recon_d", "recon_f", "commitment", "local", "global", "test_x_f_px", "codes_hit_s"):
        assert np.isfinite(metrics[col]).all()
    assert metrics["test_x_f_px"].iloc[-1] == pytest.approx(summary["test"]["x_f_px"])  # the final model's score
    assert summary["test"]["codes_used_s"] > 1 and summary["test"]["codes_used_d"] > 1
    assert json.loads((out / "summary.json").read_text())["steps"] == summary["steps"] == 2 * 4800 // 32
    # save / load round trip: identical outputs
    model, ckpt = MSST.load(out / "checkpoint.pt")
    assert ckpt["finished"] and ckpt["normalization"]["kind"] == "root_rms"
    test = load_pose_tensors(tiny_dataset, "test", max_items=20000)
    assert evaluate_msst(model, test) == summary["test"]
    x = test.x_f[:16]
    again, _ = MSST.load(out / "checkpoint.pt")
    assert torch.equal(model(x).x_f, again(x).x_f) and torch.equal(model(x).q_d, again(x).q_d)


@pytest.mark.slow
def test_resume_repeats_the_uninterrupted_run(trained, tiny_dataset, tmp_path, monkeypatch):
    import hipart.training.engine as trainer

    out, _ = trained
    cfg = load_config("tiny")
    part = tmp_path / "part"
    real = trainer.batches

    def crash_in_epoch_2(num, size, seed, epoch, rt, shuffle=True):
        if epoch == 1:
            raise KeyboardInterrupt  # as if the user stopped the run after the first epoch's checkpoint
        return real(num, size, seed, epoch, rt, shuffle)

    monkeypatch.setattr(trainer, "batches", crash_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        train_msst(cfg, tiny_dataset, part, progress=False, log=lambda m: None)
    monkeypatch.setattr(trainer, "batches", real)
    assert torch.load(part / "checkpoint.pt", weights_only=True)["epoch"] == 1
    with pytest.raises(HipartError, match="--resume"):
        train_msst(cfg, tiny_dataset, part, progress=False, log=lambda m: None)
    train_msst(cfg, tiny_dataset, part, resume=True, progress=False, log=lambda m: None)
    resumed = torch.load(part / "checkpoint.pt", weights_only=True)
    full = torch.load(out / "checkpoint.pt", weights_only=True)
    for k, v in full["model"].items():
        assert torch.equal(v, resumed["model"][k]), k
    assert resumed["metrics"][-1]["loss"] == full["metrics"][-1]["loss"]


@pytest.mark.slow
def test_cli_refuses_to_overwrite_and_reports_finished(trained, tiny_dataset):
    out, _ = trained
    runner = CliRunner()
    again = runner.invoke(cli, ["train", "msst", "--config", "tiny", "--data", str(tiny_dataset), "--out", str(out)])
    assert again.exit_code == 1 and "--resume" in again.output
    done = runner.invoke(cli, ["train", "msst", "--config", "tiny", "--data", str(tiny_dataset), "--out", str(out),
                               "--resume", "--quiet"])
    assert done.exit_code == 0 and "already trained" in done.output
    dry = runner.invoke(cli, ["train", "msst", "--config", "paper", "--dry-run"])
    assert dry.exit_code == 0 and "L1=4 D1=128" in dry.output and "parameters" in dry.output
    missing = runner.invoke(cli, ["train", "msst", "--config", "tiny", "--data", str(out / "nothing")])
    assert missing.exit_code == 1 and "no such dataset folder" in missing.output


# `hipart train msst` in which every process, after training, saves its own model state as rank<r>.pt in argv[1]
EVERY_RANK_SAVES = """
import os, sys
import torch
import hipart.training.msst as trainer
from hipart_cli.main import cli

real_fit = trainer.fit

def fit_and_save(stage, rt, out, *args, **kwargs):
    state = real_fit(stage, rt, out, *args, **kwargs)
    torch.save({k: v.detach().cpu() for k, v in stage.model.state_dict().items()},
               os.path.join(sys.argv[1], f"rank{rt.rank}.pt"))
    return state

trainer.fit = fit_and_save
cli(sys.argv[2:], prog_name="hipart")
"""


@pytest.mark.slow
def test_torchrun_two_cpu_processes_keep_identical_codebooks(tiny_dataset, tmp_path):
    out = tmp_path / "ddp"
    cfg = tmp_path / "ddp.yaml"
    cfg.write_text("base: tiny\nmsst: {epochs: 1, restart_every: 20}\n")  # 75 steps: three dead-code restarts
    script = tmp_path / "every_rank_saves.py"
    script.write_text(EVERY_RANK_SAVES)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script),
           str(tmp_path), "train", "msst", "--config", str(cfg), "--data", str(tiny_dataset), "--out", str(out),
           "--device", "cpu", "--quiet"]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["steps"] == (4800 // 2) // 32  # each process: half the data
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    # Each process quantizes its own half of every batch, yet the EMA statistics are summed over both and
    # restarts are broadcast, so the codebooks (and the DDP-averaged weights) stay bit-identical. Only the code-use
    # report (hits) and the memory of recent encoder outputs are each process's own.
    local = [k for k in ranks[0] if k.endswith((".hits", ".recent"))]
    codebooks = [k for k in ranks[0] if k.endswith(".codebook")]
    assert len(codebooks) == 2 and len(local) == 4  # the sparse and the dense quantizer
    for k, v in ranks[0].items():
        if k not in local:
            assert torch.equal(v, ranks[1][k]), k
    assert all(not torch.equal(ranks[0][k], ranks[1][k]) for k in local if k.endswith(".recent"))
    assert all(int(ranks[0][k.replace("codebook", "steps")]) == 75 for k in codebooks)
    saved = torch.load(out / "checkpoint.pt", weights_only=True)["model"]  # rank 0 writes the checkpoint
    for k in codebooks:
        assert torch.equal(saved[k], ranks[1][k]), k

"""HiARM's decode groups (config ``hiarm.decode_groups``): the parts of a group predicted side by side from the same
hidden state under a block-causal mask, one group per step, by the reference (cached and uncached), static-cache,
looped and compiled decodings alike; the default "single" order is exactly the 17-step model of before; bad groups
are refused naming the key; checkpoints without the setting load, decode and resume as before."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from hipart.config import PRESETS, decode_groups, load_config
from hipart.errors import HipartError
from hipart.models.fast import FastDecoder
from hipart.models.hiarm import HiARM, hiarm_loss
from hipart.models.hiarm_fast import StaticDecoder
from hipart.pipeline import checkpoint_section
from hipart.skeleton import DECODE_GROUP_PRESETS, H36M
from hipart_cli.main import cli
from test_hiarm import random_tokens, tiny_hiarm  # noqa: E402

J = H36M.num_joints
# a hand-written order: names and indices mixed, groups of several sizes, not the centre order
CUSTOM = [["Pelvis", "Thorax"], [1, 4, 7, 9], ["RKnee", "LKnee", "Head", "LShoulder", "RShoulder"],
          [3, 6, 12, 15], ["LWrist", "RWrist"]]
PINNED = Path(__file__).parent / "data" / "hipart_pinned.pt"




# ---------------------------------------------------------------- the 17-step code before decode groups (b75d498)
def todays_gcsab(gcsab, x, start=0, caches=None):
    length = start + x.shape[1]
    pos, key = torch.arange(start, length)[:, None], torch.arange(length)[None, :]
    mask = (key <= pos) | ((key < gcsab.num_prefix) & (pos < gcsab.num_prefix))
    x = x + gcsab.pos[start:length]
    grown = []
    for i, block in enumerate(gcsab.blocks):
        x, kv = block(x, mask, None if caches is None else caches[i])
        grown.append(kv)
    return gcsab.norm(x), grown


def todays_forward(model, x_s, q_s, q_d):
    order = model.order
    g = model.lsab(q_s[:, order[:-1]], q_d[:, order[:-1]], order[:-1])
    h, _ = todays_gcsab(model.gcsab, torch.cat([model.prefix(x_s), g], dim=1))
    return model.head(h[:, J - 1:], order)


@torch.no_grad()
def todays_generate(model, x_s, use_cache=True, temperature=0.0, generator=None):
    def choose(logits):
        if temperature <= 0:
            return logits.argmax(-1)
        probs = torch.softmax(logits.float() / temperature, dim=-1)
        flat = torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, generator=generator)
        return flat.reshape(probs.shape[:-1])

    B = x_s.shape[0]
    q_s = torch.zeros(B, J, dtype=torch.long)
    q_d = torch.zeros(B, J, model.r, dtype=torch.long)
    seq = model.prefix(x_s)
    h, caches = todays_gcsab(model.gcsab, seq)
    last = h[:, -1:]
    for k in range(J):
        logits_s, logits_d = model.head(last, model.order[k:k + 1])
        part = int(model.order[k])
        q_s[:, part] = choose(logits_s[:, 0])
        q_d[:, part] = choose(logits_d[:, 0])
        if k == J - 1:
            break
        g = model.lsab(q_s[:, part:part + 1], q_d[:, part:part + 1], model.order[k:k + 1])
        if use_cache:
            last, caches = todays_gcsab(model.gcsab, g, J + k, caches)
        else:
            seq = torch.cat([seq, g], dim=1)
            last = todays_gcsab(model.gcsab, seq)[0][:, -1:]
    return q_s, q_d


def assert_same_tokens(a, b):
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


# ---------------------------------------------------------------- tests
def test_the_presets_partition_the_joints_rings_centre_out_and_limbs_after_their_parents():
    rings = decode_groups("rings")
    assert rings == H36M.rings() and len(rings) == 6
    assert [j for g in rings for j in g] == list(H36M.part_order("center"))  # the centre order, cut into rings
    assert [H36M.names[j] for j in rings[1]] == ["RHip", "LHip", "Spine"]  # left and right together
    limbs = decode_groups("limbs")
    assert len(limbs) == 4
    group = {j: t for t, g in enumerate(limbs) for j in g}
    for j, parent in enumerate(H36M.parents):  # outside the torso, every joint comes after its parent's group
        if group[j] > 0:
            assert group[parent] < group[j], H36M.names[j]
    assert decode_groups("single", "raster") == tuple((j,) for j in range(J))
    assert decode_groups("single") == tuple((j,) for j in H36M.part_order("center"))
    assert set(DECODE_GROUP_PRESETS) == {"single", "rings", "limbs"}
    assert decode_groups(CUSTOM)[1] == (1, 4, 7, 9)


@pytest.mark.parametrize("groups", ["rings", "limbs", CUSTOM, [list(range(J))]])
def test_grouped_decoding_gives_the_same_tokens_cached_uncached_static_and_looped(groups):
    model = tiny_hiarm(seed=3, decode_groups=groups)
    x, _, _ = random_tokens(16, seed=4)
    cached = model.generate(x, use_cache=True)
    assert_same_tokens(model.generate(x, use_cache=False), cached)
    with torch.inference_mode():
        assert_same_tokens(StaticDecoder(model).decode(x), cached)
        assert_same_tokens(StaticDecoder(model).decode_looped(x), cached)
        assert_same_tokens(StaticDecoder(model).decode_looped(x[:1]), (cached[0][:1], cached[1][:1]))
    assert_same_tokens(FastDecoder(model, compile=False)(x), cached)
    # greedy decoding is the argmax of teacher forcing on its own output: training sees what decoding does
    logits_s, logits_d = model(x, *cached)
    assert torch.equal(logits_s.argmax(-1), cached[0][:, model.order])
    assert torch.equal(logits_d.argmax(-1), cached[1][:, model.order])
    # sampled decoding too: the same draws with and without the cache
    a = model.generate(x, temperature=1.0, generator=torch.Generator().manual_seed(7))
    b = model.generate(x, use_cache=False, temperature=1.0, generator=torch.Generator().manual_seed(7))
    assert_same_tokens(a, b)


@pytest.mark.parametrize("part_order", ["center", "raster"])
def test_the_single_order_is_exactly_the_17_step_model_of_before(part_order):
    model = tiny_hiarm(seed=2, part_order=part_order)
    assert model.cfg.decode_groups == "single" and model.num_steps == J and model.single
    explicit = tiny_hiarm(seed=2, part_order=part_order,
                          decode_groups=[[H36M.names[j]] for j in H36M.part_order(part_order)])
    x, q_s, q_d = random_tokens(8, seed=5)
    with torch.no_grad():
        before = todays_forward(model, x, q_s, q_d)
        for m in (model, explicit):
            now = m(x, q_s, q_d)
            assert torch.equal(now[0], before[0]) and torch.equal(now[1], before[1])
    for use_cache in (True, False):
        assert_same_tokens(model.generate(x, use_cache), todays_generate(model, x, use_cache))
    sampled = [m(x, temperature=1.0, generator=torch.Generator().manual_seed(3))
               for m in (model.generate, lambda *a, **k: todays_generate(model, *a, **k))]
    assert_same_tokens(*sampled)
    with torch.inference_mode():
        assert_same_tokens(StaticDecoder(model).decode_looped(x), todays_generate(model, x))
    # the same weights, drawn alike: the setting adds no parameter
    grouped = tiny_hiarm(seed=2, part_order=part_order, decode_groups="rings")
    assert all(torch.equal(v, grouped.state_dict()[k]) for k, v in model.state_dict().items())
    assert list(grouped.state_dict()) == list(model.state_dict())


def test_teacher_forcing_of_a_group_ignores_its_group_mates_but_sees_earlier_groups():
    model = tiny_hiarm(seed=1, decode_groups="rings")
    x, q_s, q_d = random_tokens(4)
    base = model(x, q_s, q_d)
    starts, sizes = model.group_starts, model.group_sizes
    for t in (1, 3):  # change one part of group t (its second)
        k = starts[t] + 1
        joint = int(model.order[k])
        s2, d2 = q_s.clone(), q_d.clone()
        s2[:, joint] = (s2[:, joint] + 1) % 32
        d2[:, joint] = (d2[:, joint] + 5) % 32
        new = model(x, s2, d2)
        done = starts[t] + sizes[t]  # groups 0..t, the changed part's group-mates included: unchanged
        assert torch.equal(new[0][:, :done], base[0][:, :done]) and torch.equal(new[1][:, :done], base[1][:, :done])
        assert not torch.allclose(new[0][:, done:], base[0][:, done:])  # every later group sees it
        for later in range(t + 1, model.num_steps):
            part = slice(starts[later], starts[later] + sizes[later])
            assert not torch.allclose(new[0][:, part], base[0][:, part]), later
    # the mask: a part position sees the prefix, its own group and earlier groups; the prefix only itself
    mask = model.gcsab.mask(model.gcsab.max_length)
    group = [-1] * J + [t for t, n in enumerate(sizes) for _ in range(n)][:J - 1]
    expected = torch.tensor([[gk <= gq for gk in group] for gq in group])
    assert torch.equal(mask, expected)
    assert model.reader.tolist() == [J - 1 + starts[t] for t, n in enumerate(sizes) for _ in range(n)]


@pytest.mark.parametrize("groups, steps", [("single", 17), ("rings", 6), ("limbs", 4), (CUSTOM, 5)])
def test_a_decoding_takes_one_prediction_head_call_per_group(groups, steps, monkeypatch):
    model = tiny_hiarm(decode_groups=groups)
    assert model.num_steps == steps
    calls = []
    model.head.register_forward_hook(lambda *a: calls.append(1))
    x, _, _ = random_tokens(3)
    for use_cache in (True, False):
        calls.clear()
        model.generate(x, use_cache)
        assert len(calls) == steps
    step = model.head.step
    monkeypatch.setattr(model.head, "step", lambda *a: calls.append(1) or step(*a))
    calls.clear()
    with torch.inference_mode():
        StaticDecoder(model).decode(x)
    assert len(calls) == steps


@pytest.mark.parametrize("groups, named", [
    ([g for g in CUSTOM[:-1]], "missing LWrist, RWrist"),
    ([*CUSTOM, ["Pelvis"]], "joint Pelvis is in more than one group"),
    ([["Pelvis", "Hip"], *CUSTOM[1:]], "holds 'Hip', which is neither a joint name"),
    ([[0, 17], *CUSTOM[1:]], "holds 17, which is neither"),
    ([[0, True], *CUSTOM[1:]], "holds True"),
    ([[], *CUSTOM], "group 0 must be a non-empty list"),
    ("fans", "is 'fans'; choose one of single, rings, limbs"),
    (5, "must be of type str or list"),
])
def test_invalid_decode_groups_are_refused_in_one_line_naming_the_key(groups, named, tmp_path):
    with pytest.raises(HipartError) as err:
        load_config("tiny", {"hiarm": {"decode_groups": groups}})
    message = str(err.value)
    assert "\n" not in message and "'hiarm.decode_groups'" in message and named in message
    path = tmp_path / "mine.yaml"
    path.write_text("base: tiny\nhiarm: {decode_groups: rings}\n")
    assert load_config(path).hiarm.decode_groups == "rings"
    with pytest.raises(HipartError, match="'hiarm.decode_groups'"):  # building the model checks too
        HiARM(dataclasses.replace(load_config("tiny").hiarm, decode_groups=groups), 2, 8, 8)


def test_an_old_checkpoint_without_the_setting_loads_decodes_as_before_and_would_resume():
    pinned = torch.load(PINNED, weights_only=True)["hiarm"]
    assert "decode_groups" not in pinned["model_args"]["cfg"]
    model = HiARM.from_args(pinned["model_args"]).eval()
    model.load_state_dict(pinned["model"])
    assert model.single and model.num_steps == J
    # what resume_state compares: as before (the pinned run predates cond_token_hidden, stored since)
    stored = pinned["model_args"]
    assert model.model_args() == {**stored, "cfg": {**stored["cfg"], "cond_token_hidden": 64}}
    x = torch.randn(6, J, 2, generator=torch.Generator().manual_seed(0))
    before = todays_generate(model, x)
    assert_same_tokens(model.generate(x), before)
    with torch.inference_mode():
        assert_same_tokens(StaticDecoder(model).decode(x), before)
    # train all's settings check: a checkpoint config without the key is the "single" order's
    ckpt = {"config": {"hiarm": {"dim": 16}, "keypoints": "gt"}}
    assert checkpoint_section(ckpt, "hiarm")["decode_groups"] == "single"
    assert checkpoint_section({"config": {"hiarm": {"decode_groups": "rings"}}}, "hiarm")["decode_groups"] == "rings"


def test_a_grouped_model_learns_random_tokens():
    model = tiny_hiarm(seed=4, decode_groups="rings").train()
    x, q_s, q_d = random_tokens(32, seed=6)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        loss, _ = hiarm_loss(*model(x, q_s, q_d), q_s, q_d, model.order, 1.5)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.5  # measured 9.07 -> 7.96


@pytest.mark.slow  # compiling takes 20-50 s on two shared cores
def test_compiled_fast_decoding_of_a_grouped_order_gives_the_eager_tokens():
    torch.manual_seed(5)
    cfg = dataclasses.replace(load_config("tiny").hiarm, num_blocks=1, dim=16, heads=2, decode_groups="rings")
    model = HiARM(cfg, 2, 16, 16).eval()
    decoder = FastDecoder(model, compile=True)
    for n in (6, 1):
        x = torch.randn(n, J, 2, generator=torch.Generator().manual_seed(n))
        q_s, q_d = decoder(x)
        ref_s, ref_d = model.generate(x)
        assert decoder.compiled and torch.equal(q_s, ref_s) and torch.equal(q_d, ref_d)
    assert not decoder.warned


@pytest.mark.slow
def test_train_hiarm_with_rings_from_a_yaml_file(tiny_msst, tiny_dataset, tmp_path):
    config = tmp_path / "rings.yaml"
    config.write_text("base: tiny\nhiarm: {decode_groups: rings, epochs: 1}\n")
    out = tmp_path / "hiarm"
    res = CliRunner().invoke(cli, ["train", "hiarm", "--config", str(config), "--data", str(tiny_dataset),
                                   "--out", str(out), "--msst", str(tiny_msst[0] / "checkpoint.pt")])
    assert res.exit_code == 0, res.output
    model, ckpt = HiARM.load(out / "checkpoint.pt")
    assert ckpt["model_args"]["cfg"]["decode_groups"] == "rings" and model.num_steps == 6
    x = torch.randn(4, J, 2, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        assert_same_tokens(StaticDecoder(model).decode(x), model.generate(x))


def test_the_demo_preset_decodes_in_rings_the_bench_preset_by_limbs_and_the_others_in_the_papers_17_steps():
    steps = {name: len(decode_groups(load_config(name).hiarm.decode_groups)) for name in PRESETS}
    assert steps == {"tiny": 17, "demo": 6, "bench": 4, "paper": 17, "pretrained": 17}

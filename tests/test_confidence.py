"""The detector's per-joint confidence c (N, 17) as an input: HiARM's condition, the lifter's features and the lifting
baselines' channels read it when built to (``hiarm.confidence``, ``lifter.confidence``, a baseline's ``confidence``)
and ignore it otherwise, with the outputs of before; every HiARM decoding takes it to the same tokens; the frames
carry it (0 where the detector did not see a joint); caches of HiARM's levels are keyed by it where HiARM reads it;
checkpoints made before the settings existed load with them off; models that read it learn from it."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest
import torch

from hipart.bench.occlusion import SettingDetections
from hipart.checkpoints import dict_differences, save_checkpoint
from hipart.config import added_defaults, load_config, recorded_settings
from hipart.errors import HipartError
from hipart.io import array_sha256, file_sha256
from hipart.models.baselines.diffpose import DiffPoseLifter, DiffPoseSettings
from hipart.models.baselines.mixste import MixSTE, MixSTESettings
from hipart.models.fast import FastDecoder
from hipart.models.hiarm import HiARM
from hipart.models.hiarm_fast import StaticDecoder
from hipart.models.hipart import HiPART
from hipart.models.lifter import Lifter, confidence_joints, joint_anchors
from hipart.models.msst import MSST
from hipart.occlusion import observed_confidence
from hipart.pipeline import plan
from hipart.predict import model_confidence
from hipart.runs import RunLayout
from hipart.skeleton import H36M
from hipart.training import inputs
from hipart.training.baselines import load_baseline
from hipart.training.inputs import SplitFrames, split_frames
from hipart.training.lifter import densified_levels
from test_hiarm import memorise, random_tokens, tiny_hiarm  # noqa: E402
from test_lifter import fit  # noqa: E402

J = H36M.num_joints
PARTS = np.arange(144) % J  # the 48 dense then 96 fine joints' body parts
LEGS = [H36M.index(n) for n in ("RKnee", "RAnkle", "LKnee", "LAnkle")]


def confidences(n: int, seed: int) -> torch.Tensor:
    return torch.rand(n, J, generator=torch.Generator().manual_seed(seed))


def assert_same_tokens(a, b):
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def tiny_lifter(num_inputs: int = 161, seed: int = 0, **changes) -> Lifter:
    """A tiny lifter whose head has weights (it starts at zero: every output on the root)."""
    torch.manual_seed(seed)
    cfg = dataclasses.replace(load_config("tiny").lifter, dim=16, depth=1, heads=2, **changes)
    model = Lifter(cfg, joint_anchors(num_inputs, PARTS if num_inputs > J else None))
    torch.nn.init.normal_(model.head.weight, std=0.05)
    return model.eval()


def test_the_observed_confidence_is_the_detectors_with_zero_outside_the_picture_and_where_unseen():
    c = np.full((2, J), 0.8, np.float32)
    c[0, 0] = 1.2  # scores are clipped into [0, 1]
    x = np.full((2, J, 2), 50.0, np.float32)
    x[0, 3] = [-0.6, 50.0]  # left of the first pixel column (centres at 0..99: the picture spans [-0.5, 99.5))
    x[0, 4] = [99.4, 50.0]  # inside
    x[1, 5] = [50.0, 99.5]  # below
    x[1, 6] = np.nan  # no position at all
    unseen = np.zeros((2, J), bool)
    unseen[1, 7] = True  # e.g. beyond a crop's cut
    expected = np.full((2, J), 0.8, np.float32)
    expected[0, 0] = 1.0
    expected[0, 3] = expected[1, 5] = expected[1, 6] = expected[1, 7] = 0.0
    out = observed_confidence(c, x, np.array([100, 100]), unseen)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, expected)


# ---------------------------------------------------------------- HiARM


def test_a_hiarm_with_confidence_reads_it_and_one_without_ignores_it():
    x, q_s, q_d = random_tokens(6, seed=1)
    c = confidences(6, 2)
    legs_unseen = c.clone()
    legs_unseen[:, LEGS] = 0.0
    on, off = tiny_hiarm(seed=0, confidence=True), tiny_hiarm(seed=0)
    assert (on.cond_embed.in_features, off.cond_embed.in_features) == (3, 2)
    with torch.no_grad():
        seen, unseen = on(x, q_s, q_d, c), on(x, q_s, q_d, legs_unseen)
        for a, b in zip(seen, unseen):  # the legs' confidence alone changes every prediction
            assert not torch.allclose(a, b)
        before = off(x, q_s, q_d)
        for other in (c, legs_unseen):
            assert all(torch.equal(a, b) for a, b in zip(off(x, q_s, q_d, other), before))
    assert_same_tokens(off.generate(x, c=c), off.generate(x))
    with pytest.raises(HipartError, match="hiarm.confidence"):
        on(x, q_s, q_d)
    with pytest.raises(HipartError, match="one per joint"):
        on.generate(x, c=c[:, :5])


@pytest.mark.parametrize("groups", ["single", "rings"])
def test_every_decoding_of_a_hiarm_with_confidence_gives_the_same_tokens(groups):
    model = tiny_hiarm(seed=3, confidence=True, decode_groups=groups)
    x, _, _ = random_tokens(16, seed=4)
    c = confidences(16, 5)
    c[:4] = 0.0  # frames without a detection
    c[4:8, LEGS] = 0.05  # legs below the frame edge
    cached = model.generate(x, c=c)
    assert_same_tokens(model.generate(x, use_cache=False, c=c), cached)
    with torch.inference_mode():
        assert_same_tokens(StaticDecoder(model).decode(x, c=c), cached)
        assert_same_tokens(StaticDecoder(model).decode_looped(x, c=c), cached)
        assert_same_tokens(StaticDecoder(model).decode_looped(x[:1], c=c[:1]), (cached[0][:1], cached[1][:1]))
    assert_same_tokens(FastDecoder(model, compile=False)(x, c), cached)
    # greedy decoding is the argmax of teacher forcing on its own output, with the same confidence
    logits_s, logits_d = model(x, *cached, c)
    assert torch.equal(logits_s.argmax(-1), cached[0][:, model.order])
    assert torch.equal(logits_d.argmax(-1), cached[1][:, model.order])
    a = model.generate(x, temperature=1.0, generator=torch.Generator().manual_seed(7), c=c)
    b = model.generate(x, use_cache=False, temperature=1.0, generator=torch.Generator().manual_seed(7), c=c)
    assert_same_tokens(a, b)
    with pytest.raises(HipartError, match="hiarm.confidence"):
        FastDecoder(model, compile=False)(x)


@pytest.mark.slow
def test_compiled_decoding_of_a_hiarm_with_confidence_gives_the_eager_tokens():
    torch.manual_seed(0)
    model = HiARM(dataclasses.replace(load_config("tiny").hiarm, num_blocks=1, dim=16, heads=2, confidence=True),
                  2, 16, 16).eval()
    x, c = torch.randn(8, J, 2), confidences(8, 1)
    decoder = FastDecoder(model, compile=True)
    assert_same_tokens(decoder(x, c), model.generate(x, c=c))
    assert decoder.compiled


# ---------------------------------------------------------------- the lifter


def test_each_lifter_input_reads_the_confidence_of_its_sparse_joint_unstandardized():
    assert confidence_joints(joint_anchors(J + 4, [3, -1, 16, 0])).tolist() == list(range(J)) + [3, 0, 16, 0]
    on, off = tiny_lifter(confidence=True), tiny_lifter()
    g = torch.Generator().manual_seed(1)
    train = torch.randn(64, 161, 2, generator=g) * 0.3
    on.fit_standardization(train)
    off.fit_standardization(train)
    x, c = torch.randn(3, 161, 2, generator=g) * 0.3, confidences(3, 2)
    z = on.embedding_inputs(x, c)
    assert z.shape == (3, 161, 5)
    assert torch.equal(z[..., :4], off.embedding_inputs(x))  # the positions' features as before
    # a sparse joint its own confidence, a dense or fine joint its body part's, as given (no standardization)
    assert torch.equal(z[..., 4], c[:, [*range(J), *PARTS.tolist()]])
    assert on.embed_weight.shape[1] == 5 and off.embed_weight.shape[1] == 4


@pytest.mark.parametrize("num_inputs", [17, 161])
def test_a_lifter_with_confidence_reads_it_and_one_without_ignores_it(num_inputs):
    x = torch.randn(4, num_inputs, 2, generator=torch.Generator().manual_seed(3)) * 0.3
    c = confidences(4, 4)
    legs_unseen = c.clone()
    legs_unseen[:, LEGS] = 0.0
    on, off = tiny_lifter(num_inputs, confidence=True), tiny_lifter(num_inputs)
    with torch.no_grad():
        assert not torch.allclose(on(x, c), on(x, legs_unseen))
        before = off(x)
        assert torch.equal(off(x, c), before) and torch.equal(off(x, legs_unseen), before)
    with pytest.raises(HipartError, match="lifter.confidence"):
        on(x)
    with pytest.raises(HipartError, match="one per sparse joint"):
        on(x, c[:2])


# ---------------------------------------------------------------- baselines


def tiny_diffpose(**changes) -> DiffPoseLifter:
    torch.manual_seed(0)
    return DiffPoseLifter(DiffPoseSettings(hidden=32, layers=2, context_hidden=32, context_layers=1, hypotheses=2,
                                           **changes)).eval()


def tiny_mixste(num_joints: int, **changes) -> MixSTE:
    torch.manual_seed(0)
    s = MixSTESettings(frames=5, dim=32, depth=1, heads=2, dropout=0.0, input="hier" if num_joints > J else "sparse",
                       **changes)
    return MixSTE(s, num_joints, PARTS if num_joints > J else None).eval()


@pytest.mark.parametrize("name", ["diffpose", "mixste-sparse", "mixste-hier"])
def test_a_baseline_with_confidence_reads_it_and_one_without_ignores_it(name):
    g = torch.Generator().manual_seed(5)
    if name == "diffpose":
        on, off = tiny_diffpose(confidence=True), tiny_diffpose()
        x, c = torch.randn(4, J, 2, generator=g), confidences(4, 6)
        assert (on.context.embed.in_features, on.denoiser.embed.in_features) == (3, 6)
        assert (off.context.embed.in_features, off.denoiser.embed.in_features) == (2, 5)
    else:
        n = J if name == "mixste-sparse" else 161
        on, off = tiny_mixste(n, confidence=True), tiny_mixste(n)
        x, c = torch.randn(2, 5, n, 2, generator=g), confidences(10, 6).reshape(2, 5, J)
        assert (on.embed.in_features, off.embed.in_features) == (3, 2)
    legs_unseen = c.clone()
    legs_unseen[..., LEGS] = 0.0
    with torch.no_grad():
        assert not torch.allclose(on(x, c=c), on(x, c=legs_unseen))
        before = off(x)
        assert torch.equal(off(x, c=c), before) and torch.equal(off(x, c=legs_unseen), before)
    with pytest.raises(HipartError, match="'confidence' setting"):
        on(x)


def test_a_hier_mixste_spreads_a_joints_confidence_over_its_body_part_and_needs_the_part_labels():
    model = tiny_mixste(161, confidence=True)
    assert model.confidence_joint.tolist() == [*range(J), *PARTS.tolist()]
    with pytest.raises(ValueError, match="part labels"):
        MixSTE(dataclasses.replace(model.s), 161)


# ---------------------------------------------------------------- checkpoints made before the settings


def test_checkpoints_saved_without_the_confidence_settings_load_with_them_off(tmp_path):
    assert added_defaults(DiffPoseSettings) == added_defaults(MixSTESettings) == {"confidence": False}
    hiarm = tiny_hiarm(seed=0)
    assert "confidence" not in hiarm.model_args()["cfg"]  # the model_args of before: they resume and load as before
    save_checkpoint(tmp_path / "hiarm.pt", {"kind": "hiarm", "model": hiarm.state_dict(),
                                            "model_args": hiarm.model_args(), "hierarchy_hash": ""})
    loaded, _ = HiARM.load(tmp_path / "hiarm.pt")
    x, _, _ = random_tokens(4, seed=2)
    assert loaded.cfg.confidence is False and loaded.cond_embed.in_features == 2
    assert_same_tokens(loaded.generate(x), hiarm.generate(x))
    # a baseline stores all its settings: one saved before the setting existed lacks it
    model = tiny_diffpose()
    old = {k: v for k, v in dataclasses.asdict(model.s).items() if k != "confidence"}
    assert recorded_settings(model.s) == old
    assert recorded_settings(dataclasses.replace(model.s, confidence=True))["confidence"] is True
    save_checkpoint(tmp_path / "diffpose.pt", {"kind": "baseline:diffpose", "model": model.state_dict(),
                                               "model_args": {"settings": old, "info": {"levels": {}}},
                                               "hierarchy_hash": ""})
    loaded, settings, _ = load_baseline(tmp_path / "diffpose.pt", "diffpose")
    assert settings.confidence is False
    x = torch.randn(3, J, 2, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_train_all_takes_a_baseline_checkpoint_without_the_setting_as_made_with_it_off(tmp_path):
    stages = {s.kind: s for s in plan(load_config("tiny"), tmp_path / "data", RunLayout(tmp_path / "run"), True,
                                      False, lambda m: None)}
    for name in ("diffpose", "mixste"):
        stage = stages[f"baseline:{name}"]
        assert stage.settings["confidence"] is False
        old = {k: v for k, v in stage.settings.items() if k not in ("confidence", "keypoints")}
        assert dict_differences(stage.settings, stage.checkpoint_settings({"model_args": {"settings": old}})) == []
        on = {"model_args": {"settings": {**old, "confidence": True}}}
        assert dict_differences(stage.settings, stage.checkpoint_settings(on)) == ["confidence"]


# ---------------------------------------------------------------- the frames


def test_frames_carry_ones_for_true_keypoints_and_replacements_are_checked(tiny_dataset):
    frames = split_frames(tiny_dataset, "test")
    assert frames.confidence.dtype == np.float32 and frames.confidence.shape == (len(frames), J)
    assert (frames.confidence == 1).all()
    assert (frames.with_inputs(frames.x_s).confidence == 1).all()  # the documented default
    c = np.full((len(frames), J), 0.5, np.float32)
    assert (frames.with_inputs(frames.x_s, confidence=c).confidence == 0.5).all()
    with pytest.raises(HipartError, match=r"values in \[0, 1\]"):
        frames.with_inputs(frames.x_s, confidence=c + 1)
    with pytest.raises(HipartError, match="confidences have shape"):
        frames.with_inputs(frames.x_s, confidence=c[:, :3])
    assert frames.select(np.arange(len(frames)) < 5).confidence.shape == (5, J)


def test_frames_from_detections_get_zero_outside_the_image_and_a_held_frame_its_sources_confidence(tiny_dataset,
                                                                                                      monkeypatch):
    truth = split_frames(tiny_dataset, "test")
    n = len(truth)
    x = truth.x_s_true.copy()
    conf = np.full((n, J), 0.9, np.float32)
    conf[:, H36M.index("LAnkle")] = 0.1
    detected = np.ones(n, bool)
    detected[2] = False  # nobody found (its stale keypoints and scores must not count)
    conf[2] = 0.5
    x[7, H36M.index("RAnkle"), 1] = truth.image_size[7, 1] + 10  # a foot placed below the frame edge
    fake = {"x_s": x, "confidence": conf, "detected": detected, "has_image": np.ones(n, bool), "sha256": "f" * 64}
    monkeypatch.setattr(inputs, "load_row_detections", lambda data_dir, split: fake)
    expected = conf.copy()
    expected[7, H36M.index("RAnkle")] = 0.0
    frames = split_frames(tiny_dataset, "test", "detected", log=lambda m: None)
    assert frames.held.tolist()[:4] == [False, False, True, False]
    assert np.array_equal(frames.x_s[2], x[1])  # held from a neighbour, with the neighbour's confidence
    expected[2] = expected[1]
    np.testing.assert_array_equal(frames.confidence, expected)
    training = split_frames(tiny_dataset, "test", "detected", drop_undetected=True, log=lambda m: None)
    np.testing.assert_array_equal(training.confidence, np.delete(expected, 2, axis=0))


def test_an_image_level_setting_feeds_zero_outside_the_image_and_beyond_the_cut_and_held_frames_their_sources():
    x = np.full((4, J, 2), 40.0, np.float32)
    x[0, 2] = [40.0, 120.0]  # outside a 100 x 100 image
    x[1] = x[3] = np.nan  # no detection
    beyond = np.zeros((4, J), bool)
    beyond[2, 4] = True
    det = SettingDetections(x, np.full((4, J), 0.7, np.float32), np.array([True, False, True, False]),
                            np.zeros((4, J), bool), np.zeros(4, bool), beyond)
    expected = np.full((4, J), 0.7, np.float32)
    expected[0, 2] = expected[2, 4] = 0.0
    expected[1] = expected[0]  # held from frame 0 (the earlier of two nearest) with its confidence
    expected[3] = 0.0  # a sequence without any detection: the mean pose, confidence 0
    start, end = np.array([0, 0, 0, 3]), np.array([3, 3, 3, 4])
    np.testing.assert_array_equal(det.input_confidence(np.full((4, 2), 100.0), start, end), expected)


# ---------------------------------------------------------------- the inference object and predict


def tiny_hipart(hiarm_confidence: bool, lifter_confidence: bool) -> HiPART:
    cfg = load_config("tiny")
    torch.manual_seed(0)
    msst = MSST(cfg.msst, 96, 48, PARTS[48:])
    r, K_s, K_d = cfg.msst.tokens_per_part, cfg.msst.codebook_size_sparse, cfg.msst.codebook_size_dense
    hiarm = HiARM(dataclasses.replace(cfg.hiarm, confidence=hiarm_confidence), r, K_s, K_d)
    lifter = tiny_lifter(161, confidence=lifter_confidence)
    return HiPART(msst, hiarm, lifter, compile=False)


def px_poses(n: int, seed: int = 0) -> torch.Tensor:
    return 500.0 + 80.0 * torch.randn(n, J, 2, generator=torch.Generator().manual_seed(seed))


def test_hipart_without_confidence_ignores_a_given_one_with_one_warning():
    model = tiny_hipart(False, False)
    x, c = px_poses(5), confidences(5, 1)
    before = model(x, (1000, 1000))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = model(x, (1000, 1000), confidence=c)
        model.densify(x, confidence=c)
        model.lift(model.levels(x), (1000, 1000), confidence=c)
    said = [str(w.message) for w in caught if "confidence" in str(w.message)]
    assert said == ["HiPART: this model (hiarm.confidence and lifter.confidence off) was trained without the "
                    "detector's confidence; the confidence given is ignored"]
    for k in ("q_s", "q_d", "x_d", "x_f", "X"):
        assert torch.equal(first[k], before[k]), k
    assert model_confidence(model, x.numpy(), (1000, 1000), c.numpy()) is None  # predict gives it none


def test_hipart_with_confidence_reads_it_every_decoding_alike_and_uses_ones_where_none_is_given():
    model = tiny_hipart(True, True)
    x, c = px_poses(6), confidences(6, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a model that reads the confidence never warns
        out = model(x, (1000, 1000), confidence=c)
        ones = model(x, (1000, 1000), confidence=torch.ones(6, J))
        default = model(x, (1000, 1000))
    for k in ("q_s", "q_d", "X"):
        assert torch.equal(default[k], ones[k]), k
    assert not torch.allclose(out["X"], ones["X"])
    fast, cached, uncached = (model.densify(x, decoding, confidence=c) for decoding in ("fast", "cached", "uncached"))
    for other in (cached, uncached):
        assert torch.equal(fast["q_s"], other["q_s"]) and torch.equal(fast["q_d"], other["q_d"])
    with pytest.raises(HipartError, match="one per joint of the 6 poses"):
        model.densify(x, confidence=c[:, :4])
    # predict: the detector's or the file's confidence, 0 for a joint outside the image, ones where none is given
    px = x.numpy().copy()
    px[1, 3] = [1200.0, 10.0]
    given = model_confidence(model, px, (1000, 1000), c.numpy())
    expected = c.numpy().copy()
    expected[1, 3] = 0.0
    np.testing.assert_array_equal(given, expected)
    assert model_confidence(model, px, (1000, 1000), None).sum() == 6 * J - 1


def test_a_hipart_whose_hiarm_alone_reads_the_confidence_passes_it_there_without_warning():
    model = tiny_hipart(True, False)
    x, c = px_poses(4), confidences(4, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = model(x, (1000, 1000), confidence=c)
    dens = model.densify(x, confidence=c)
    assert torch.equal(out["q_d"], dens["q_d"]) and torch.equal(out["x_f"], dens["x_f"])


# ---------------------------------------------------------------- the levels cache


def random_run(folder, hiarm_confidence: bool) -> RunLayout:
    """A run folder with an untrained MSST and HiARM (the checkpoints HiPART.from_run loads)."""
    model = tiny_hipart(hiarm_confidence, False)
    run = RunLayout(folder)
    save_checkpoint(run.msst.checkpoint, {"kind": "msst", "model": model.msst.state_dict(), "finished": True,
                                          "model_args": model.msst.model_args(), "hierarchy_hash": "h"})
    save_checkpoint(run.hiarm.checkpoint, {"kind": "hiarm", "model": model.hiarm.state_dict(), "finished": True,
                                           "model_args": model.hiarm.model_args(), "hierarchy_hash": "h",
                                           "msst_sha256": file_sha256(run.msst.checkpoint)})
    return run


def frames_of(x: torch.Tensor, c: torch.Tensor, source: str) -> SplitFrames:
    n = len(x)
    f32 = np.float32
    return SplitFrames(x.numpy(), x.numpy(), np.full((n, 2), 1000, f32), np.zeros(n, np.int64), np.zeros(n, np.int64),
                       np.full(n, n), np.zeros((n, J, 3), f32), np.zeros((n, 48, 2), f32), np.zeros((n, 96, 2), f32),
                       source, np.zeros(n, bool), c.numpy().astype(f32))


@pytest.mark.parametrize("hiarm_confidence", [True, False])
def test_cached_levels_are_keyed_by_the_confidence_where_hiarm_reads_it(tmp_path, hiarm_confidence):
    run = random_run(tmp_path / "run", hiarm_confidence)
    cache = run.lifter("hier")
    x, c = px_poses(8, seed=4), confidences(8, 5)
    unseen = c.clone()
    unseen[:, LEGS] = 0.0
    path = cache.file("hier_test_detected.pt")
    keys = {}
    for name, conf in (("seen", c), ("unseen", unseen)):
        x_d, x_f = densified_levels(frames_of(x, conf, "detected:abc"), "test", run, cache, torch.device("cpu"))
        keys[name] = torch.load(path, weights_only=True)["key"]
        model = HiPART.from_run(run.root, "cpu", with_lifter=False, compile=False)
        fresh = model.densify(x, confidence=conf if hiarm_confidence else None)
        np.testing.assert_array_equal(x_f, fresh["x_f"].numpy())  # never the levels of the other confidence
    msst_sha, hiarm_sha = file_sha256(run.msst.checkpoint), file_sha256(run.hiarm.checkpoint)
    plain = f"{msst_sha}:{hiarm_sha}:detected:abc:8:greedy"
    if hiarm_confidence:
        assert keys == {name: f"{plain}:confidence:{array_sha256(conf.numpy())}"
                        for name, conf in (("seen", c), ("unseen", unseen))}
    else:
        assert keys == {"seen": plain, "unseen": plain}  # the key of before: existing caches stay valid


# ---------------------------------------------------------------- learning from it


@pytest.mark.slow
def test_a_hiarm_with_confidence_memorises_tokens_that_depend_on_the_confidence_alone():
    model = tiny_hiarm(seed=0, confidence=True).train()
    x, q_s, q_d = random_tokens(8, seed=7)
    x = torch.cat([x, x])  # each pose twice: once seen whole, once with its legs unseen, and other tokens
    c = torch.ones(16, J)
    c[8:, LEGS] = 0.0
    _, q_s2, q_d2 = random_tokens(8, seed=8)
    q_s, q_d = torch.cat([q_s, q_s2]), torch.cat([q_d, q_d2])
    first, last = memorise(model, x, q_s, q_d, c)
    gen_s, gen_d = model.generate(x, c=c)
    assert last < 0.1 * first
    assert (gen_s == q_s).float().mean() > 0.95 and (gen_d == q_d).float().mean() > 0.95


def test_a_lifter_with_confidence_fits_targets_that_depend_on_the_confidence_alone_and_one_without_cannot():
    x = (torch.randn(4, 161, 2, generator=torch.Generator().manual_seed(8)) * 0.3).repeat(2, 1, 1)
    c = torch.ones(8, J)
    c[4:, LEGS] = 0.0  # the same 2D poses, their legs once seen and once not
    target = torch.randn(8, J, 3, generator=torch.Generator().manual_seed(9)) * 200.0
    target -= target[:, :1].clone()
    errors = {}
    for reads in (True, False):
        model = tiny_lifter(seed=0, confidence=reads).train()
        model.fit_standardization(x)
        errors[reads] = fit(model, x, target, c)
    # without the confidence a pose's two targets get one output: at least half their distance apart from each
    floor = ((target[:4] - target[4:]).norm(dim=-1) / 2).mean().item()
    assert errors[True] < 1.0 and errors[False] >= floor - 1e-3

"""Each stage's settings split into the model's architecture and its training (hipart.config: ``setting(...,
arch=True)``): a checkpoint stores exactly the architecture part in ``model_args`` and rebuilds the same model from
it; checkpoints written before the split (their ``model_args`` built from hand-kept field lists) still load, and a
checkpoint holding model settings this version lacks is refused in one line that says how to retrain."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, fields

import numpy as np
import pytest
import torch

from hipart.checkpoints import save_checkpoint
from hipart.config import (
    ARCH,
    OMIT_DEFAULT,
    HiARMConfig,
    LifterConfig,
    MSSTConfig,
    added_defaults,
    architecture,
    architecture_fields,
    from_architecture,
    load_config,
    setting,
    training_fields,
)
from hipart.errors import HipartError
from hipart.models.hiarm import HiARM
from hipart.models.lifter import LEGACY_DESIGN, Lifter, joint_anchors
from hipart.models.msst import MSST

STAGES = {"msst": MSSTConfig, "hiarm": HiARMConfig, "lifter": LifterConfig}
# The hand-kept lists the models used before the split, copied from hipart/models/*.py at commit 1c93c7f, and the
# earlier lists whose checkpoints may still be around (git log -G "ARCHITECTURE = " -- hipart/models).
OLD_ARCHITECTURE = {
    "msst": ("num_blocks", "dim", "tokens_per_part", "part_masked", "token_hidden", "channel_ratio", "decoder_blocks",
             "codebook_size_sparse", "codebook_size_dense", "ema_decay", "dead_threshold", "restart_every"),
    "hiarm": ("num_blocks", "dim", "heads", "dropout", "part_order", "cond_token_hidden"),
    "lifter": ("input", "dim", "depth", "heads", "dropout", "attention_dropout", "features", "standardize",
               "embedding", "tokens", "readout"),
}
HIARM_BEFORE_COND_TOKEN_HIDDEN = ("num_blocks", "dim", "heads", "dropout", "part_order")
LIFTER_BEFORE_DESIGN_CHOICES = ("input", "dim", "depth", "heads", "dropout", "attention_dropout")
# Settings no checkpoint may store: they only steer training.
TRAINING = {"msst": {"batch_size", "epochs", "lr", "weight_decay", "warmup_iters", "beta", "tau", "eval_frames"},
            "hiarm": {"batch_size", "epochs", "lr", "weight_decay", "lambda_dense", "occlusion_augment"},
            "lifter": {"batch_size", "epochs", "lr", "weight_decay", "schedule", "input_noise_px", "hier_levels",
                       "warmup_iters", "lr_decay", "decay_every"}}

# Architectures with every setting off its default, so a setting that is not stored comes back different.
MSST_ARCH = {"num_blocks": 2, "dim": 16, "tokens_per_part": 2, "part_masked": False, "token_hidden": 8,
             "channel_ratio": 1, "decoder_blocks": 2, "dead_threshold": 2.0, "restart_every": 7,
             "codebook_size_sparse": 8, "codebook_size_dense": 12, "ema_decay": 0.9}
HIARM_ARCH = {"num_blocks": 2, "dim": 16, "heads": 2, "dropout": 0.1, "part_order": "raster", "cond_token_hidden": 8,
              "decode_groups": "rings", "confidence": True}
# before decode_groups and confidence existed: one part per step, "single", and no confidence
HIARM_BEFORE_DECODE_GROUPS = {**HIARM_ARCH, "decode_groups": "single", "confidence": False}
LIFTER_ARCH = {"input": "gt-hier", "dim": 16, "depth": 2, "heads": 2, "dropout": 0.2, "attention_dropout": 0.1,
               "features": "absolute", "standardize": False, "embedding": "shared", "tokens": "joints",
               "readout": "sparse", "confidence": True}
LIFTER_BEFORE_CONFIDENCE = {**LIFTER_ARCH, "confidence": False}
PARTS = np.arange(96) % 17  # the fine joints' body parts
LEVEL_PARTS = np.concatenate([np.arange(48) % 17, PARTS])  # dense then fine


def build(stage: str, arch: dict | None = None, **training) -> torch.nn.Module:
    """A small model of ``stage`` with architecture ``arch`` (the tiny preset's where not given)."""
    torch.manual_seed(0)
    base = getattr(load_config("tiny"), stage)
    cfg = dataclasses.replace(base, **(arch or {}), **training)
    if stage == "msst":
        return MSST(cfg, 96, 48, PARTS)
    if stage == "hiarm":
        return HiARM(cfg, 2, 8, 12)
    model = Lifter(cfg, joint_anchors(161, LEVEL_PARTS))
    with torch.no_grad():  # the head starts at zero (every joint on the root): outputs that tell models apart
        model.head.weight.normal_(std=0.02)
    return model


def outputs(model: torch.nn.Module) -> tuple[torch.Tensor, ...]:
    """Deterministic outputs of a model in eval mode on fixed inputs."""
    g = torch.Generator().manual_seed(1)
    model.eval()
    with torch.no_grad():
        if isinstance(model, MSST):
            out = model(torch.randn(4, 96, 2, generator=g))
            return out.q_s, out.q_d, out.x_d, out.x_f
        c = torch.rand(4, 17, generator=g)  # read by the models built with confidence
        if isinstance(model, HiARM):
            return model.generate(torch.randn(4, 17, 2, generator=g), c=c)
        x = torch.randn(4, model.num_inputs, 2, generator=g)
        model.fit_standardization(torch.randn(64, model.num_inputs, 2, generator=g))
        return (model(x, c),)


def save_and_load(model: torch.nn.Module, model_args: dict, path, state: dict | None = None):
    kind = {MSST: "msst", HiARM: "hiarm", Lifter: "lifter"}[type(model)]
    save_checkpoint(path, {"kind": kind, "model": model.state_dict() if state is None else state,
                           "model_args": model_args, "hierarchy_hash": ""})
    return type(model).load(path)


def old_model_args(model: torch.nn.Module, names: tuple[str, ...]) -> dict:
    """``model_args`` as the code before the split wrote them: ``cfg`` filtered by a hand-kept list."""
    args = model.model_args()
    return {**args, "cfg": {k: v for k, v in asdict(model.cfg).items() if k in names}}


def test_every_stage_setting_is_declared_either_architecture_or_training():
    for stage, cls in STAGES.items():
        unmarked = [f.name for f in fields(cls) if not isinstance(f.metadata.get(ARCH), bool)]
        assert not unmarked, f"{stage}: {unmarked} declared without setting(...)"
        arch, train = set(architecture_fields(cls)), set(training_fields(cls))
        assert arch and train and not arch & train
        assert arch | train == {f.name for f in fields(cls)}
        assert not TRAINING[stage] & arch, f"{stage}: training settings marked as architecture"


def test_a_field_declared_without_setting_is_named_as_neither():
    @dataclass
    class Section:
        width: int = setting(8, 1, arch=True)
        steps: int = 3

    with pytest.raises(TypeError, match=r"Section\.steps is neither architecture nor training"):
        architecture_fields(Section)


def test_every_setting_an_earlier_checkpoint_stores_is_still_an_architecture_setting():
    earlier = {"msst": [OLD_ARCHITECTURE["msst"]],
               "hiarm": [OLD_ARCHITECTURE["hiarm"], HIARM_BEFORE_COND_TOKEN_HIDDEN],
               "lifter": [OLD_ARCHITECTURE["lifter"], LIFTER_BEFORE_DESIGN_CHOICES]}
    for stage, lists in earlier.items():
        for names in lists:
            assert set(names) <= set(architecture_fields(STAGES[stage])), stage


@pytest.mark.parametrize("stage", list(STAGES))
def test_model_args_store_exactly_the_architecture_settings(stage):
    model = build(stage)
    stored = model.model_args()["cfg"]
    # settings added later (omit_default) are stored only off their defaults: the tiny preset leaves them at those
    added = added_defaults(STAGES[stage])
    assert list(stored) == [k for k in architecture_fields(STAGES[stage]) if k not in added]
    assert stored == {k: getattr(model.cfg, k) for k in architecture_fields(STAGES[stage]) if k not in added} \
        == architecture(model.cfg)
    assert all(getattr(model.cfg, k) == v for k, v in added.items())


def test_a_setting_added_later_is_stored_only_off_its_default_and_a_checkpoint_without_it_resumes(tmp_path):
    assert added_defaults(HiARMConfig) == {"decode_groups": "single", "confidence": False}
    assert added_defaults(LifterConfig) == {"confidence": False}
    assert all(f.metadata[ARCH] for cls in STAGES.values() for f in fields(cls) if OMIT_DEFAULT in f.metadata)
    assert "decode_groups" not in build("hiarm").model_args()["cfg"]
    assert "confidence" not in build("hiarm").model_args()["cfg"] and "confidence" not in build("lifter").model_args()["cfg"]
    grouped = build("hiarm", {"decode_groups": "rings"})
    assert grouped.model_args()["cfg"]["decode_groups"] == "rings"
    rebuilt, ckpt = save_and_load(grouped, grouped.model_args(), tmp_path / "checkpoint.pt")
    assert rebuilt.groups == grouped.groups and rebuilt.model_args() == ckpt["model_args"]


@pytest.mark.parametrize("stage", list(STAGES))
def test_training_settings_never_reach_the_checkpoint_and_architecture_settings_always_do(stage):
    cls = STAGES[stage]
    base = build(stage)

    def changed(f: dataclasses.Field, value):
        if "choices" in f.metadata:
            return next(c for c in f.metadata["choices"] if c != value)
        if f.name == "decode_groups":
            return "rings"
        if isinstance(value, bool):
            return not value
        return value + 1 if isinstance(value, int) else value + 0.25

    train = {f.name: changed(f, getattr(base.cfg, f.name)) for f in fields(cls) if f.name in training_fields(cls)}
    assert build(stage, **train).model_args() == base.model_args()
    for f in fields(cls):
        if f.name in architecture_fields(cls):
            other = dataclasses.replace(base.cfg, **{f.name: changed(f, getattr(base.cfg, f.name))})
            assert architecture(other) != architecture(base.cfg), f.name


@pytest.mark.parametrize("stage, arch", [("msst", MSST_ARCH), ("hiarm", HIARM_ARCH), ("lifter", LIFTER_ARCH)])
def test_a_checkpoints_model_args_rebuild_an_identical_model(stage, arch, tmp_path):
    cls = STAGES[stage]
    assert set(arch) == set(architecture_fields(cls))
    defaults = cls()
    assert all(v != getattr(defaults, k) for k, v in arch.items()), "every setting off its default"
    model = build(stage, arch, epochs=3, lr=0.123)
    rebuilt, ckpt = save_and_load(model, model.model_args(), tmp_path / "checkpoint.pt")
    assert architecture(rebuilt.cfg) == architecture(model.cfg) == arch
    assert rebuilt.model_args() == ckpt["model_args"] == model.model_args()
    theirs, mine = rebuilt.state_dict(), model.state_dict()
    assert list(theirs) == list(mine) and all(torch.equal(theirs[k], mine[k]) for k in mine)
    for a, b in zip(outputs(rebuilt), outputs(model)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    # training settings are not in the checkpoint: the rebuilt model has the defaults
    assert (rebuilt.cfg.epochs, rebuilt.cfg.lr) == (cls().epochs, cls().lr)


@pytest.mark.parametrize("stage, arch, names", [
    ("msst", MSST_ARCH, OLD_ARCHITECTURE["msst"]),
    ("hiarm", HIARM_BEFORE_DECODE_GROUPS, OLD_ARCHITECTURE["hiarm"]),
    ("lifter", LIFTER_BEFORE_CONFIDENCE, OLD_ARCHITECTURE["lifter"]),
    ("lifter", None, OLD_ARCHITECTURE["lifter"]),
    # before cond_token_hidden existed: it was the default
    ("hiarm", {**HIARM_BEFORE_DECODE_GROUPS, "cond_token_hidden": HiARMConfig().cond_token_hidden},
     HIARM_BEFORE_COND_TOKEN_HIDDEN),
])
def test_a_checkpoint_written_before_the_split_loads_as_the_same_model(stage, arch, names, tmp_path):
    model = build(stage, arch)
    old = old_model_args(model, names)
    rebuilt, ckpt = save_and_load(model, old, tmp_path / "checkpoint.pt")
    assert architecture(rebuilt.cfg) == architecture(model.cfg)
    if names == OLD_ARCHITECTURE[stage]:  # the same model_args: such a checkpoint also resumes
        assert rebuilt.model_args() == ckpt["model_args"]
    for a, b in zip(outputs(rebuilt), outputs(model)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_a_lifter_checkpoint_from_before_its_design_choices_loads_as_the_plain_transformer(tmp_path):
    arch = {**{k: LIFTER_ARCH[k] for k in LIFTER_BEFORE_DESIGN_CHOICES}, **LEGACY_DESIGN, "confidence": False}
    model = build("lifter", arch)
    args = {"cfg": {k: v for k, v in asdict(model.cfg).items() if k in LIFTER_BEFORE_DESIGN_CHOICES},
            "num_inputs": model.num_inputs}
    # the weights of that time: no anchors or standardization buffers
    state = {k: v for k, v in model.state_dict().items() if k not in ("anchors", "feature_mean", "feature_std")}
    rebuilt, _ = save_and_load(model, args, tmp_path / "checkpoint.pt", state)
    assert architecture(rebuilt.cfg) == architecture(model.cfg)
    x = torch.randn(4, model.num_inputs, 2, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), model.eval()(x), rtol=0, atol=0)


@pytest.mark.parametrize("cfg, named", [
    ({"epochs": 3}, "'lifter.epochs', which is not an architecture setting"),  # a training setting stored
    ({"mlp_ratio": 4}, "'lifter.mlp_ratio', which is not an architecture setting"),  # a setting this version lacks
    ({"dim": "wide"}, "'lifter.dim' must be an integer"),
    ({"tokens": "pixels"}, "'lifter.tokens' is 'pixels'"),
])
def test_a_checkpoint_with_model_settings_this_version_cannot_build_is_refused_in_one_line(cfg, named, tmp_path):
    model = build("lifter")
    args = model.model_args()
    with pytest.raises(HipartError) as err:
        save_and_load(model, {**args, "cfg": {**args["cfg"], **cfg}}, tmp_path / "checkpoint.pt")
    message = str(err.value)
    assert "\n" not in message and named in message
    assert str(tmp_path / "checkpoint.pt") in message and message.endswith("retrain the stage with --force")


def test_from_architecture_fills_training_settings_with_their_defaults_and_refuses_training_keys():
    cfg = from_architecture(HiARMConfig, {"dim": 16, "heads": 2}, "hiarm")
    assert (cfg.dim, cfg.heads, cfg.epochs, cfg.lr) == (16, 2, HiARMConfig().epochs, HiARMConfig().lr)
    with pytest.raises(HipartError, match="'hiarm.lr', which is not an architecture setting"):
        from_architecture(HiARMConfig, {"dim": 16, "lr": 0.1}, "hiarm")


def test_flat_yaml_sections_still_set_architecture_and_training_settings_alike(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("base: tiny\nlifter: {dim: 32, depth: 3, epochs: 9}\nhiarm: {occlusion_augment: true}\n")
    cfg = load_config(path)
    assert (cfg.lifter.dim, cfg.lifter.depth, cfg.lifter.epochs, cfg.hiarm.occlusion_augment) == (32, 3, 9, True)
    assert architecture(cfg.lifter)["depth"] == 3 and "epochs" not in architecture(cfg.lifter)
    path.write_text("lifter: {depht: 3}\n")
    with pytest.raises(HipartError, match="unknown config key 'lifter.depht'"):
        load_config(path)
    path.write_text("lifter: {standardize: 1}\n")
    with pytest.raises(HipartError, match="config key 'lifter.standardize' must be true or false"):
        load_config(path)

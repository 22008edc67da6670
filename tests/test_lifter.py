"""Stage 3, the lifter: its input features, its invariants and that it can fit."""

import dataclasses

import numpy as np
import pytest
import torch

from hipart.config import load_config
from hipart.models.lifter import NO_ANCHOR, STD_FLOOR, Lifter, joint_anchors, relative_positions, token_of_joint
from hipart.skeleton import H36M

PARTS = np.arange(144) % 17  # dense and fine joints spread over the 17 body parts


def _cfg(**changes):
    return dataclasses.replace(load_config("tiny").lifter, **changes)


def test_anchors_are_the_kinematic_parents_then_the_body_parts():
    anchors = joint_anchors(17 + 4, [3, -1, 16, 0])
    assert anchors[:17].tolist() == [NO_ANCHOR, *H36M.parents[1:]]
    assert anchors[17:].tolist() == [3, H36M.root, 16, 0]
    assert token_of_joint(anchors, "parts").tolist() == list(range(17)) + [3, 0, 16, 0]
    assert token_of_joint(anchors, "sparse+parts").tolist() == list(range(17)) + [20, 17, 33, 17]
    assert token_of_joint(anchors, "joints").tolist() == list(range(21))
    assert joint_anchors(17 + 3)[17:].tolist() == [0, 0, 0]  # no part labels: the root
    with pytest.raises(ValueError, match="part labels"):
        joint_anchors(17 + 2, [1, 17])


def test_relative_positions_known_answer():
    x = torch.zeros(1, 18, 2)
    x[0, 0] = torch.tensor([0.5, -0.25])  # root
    x[0, 1] = torch.tensor([1.0, 0.0])  # right hip, child of the root
    x[0, 17] = torch.tensor([1.5, 1.0])  # a surface point of the right hip's part
    f = relative_positions(x, torch.as_tensor(joint_anchors(18, [1])))
    assert f[0, 0].tolist() == [0.0, 0.0, 0.5, -0.25]  # the root: its screen position as anchor offset
    assert f[0, 1].tolist() == [0.5, 0.25, 0.5, 0.25]
    assert f[0, 17].tolist() == [1.0, 1.25, 0.5, 1.0]


def test_standardization_gives_zero_mean_unit_scale_features():
    torch.manual_seed(0)
    model = Lifter(_cfg(), joint_anchors(161, PARTS))
    x = torch.randn(500, 161, 2) * 0.2 + 0.1
    model.fit_standardization(x)
    z = (model.features(x) - model.feature_mean) / model.feature_std
    assert z[:, 1:].mean(dim=0).abs().max() < 1e-5
    assert (z[:, 1:].std(dim=0) - 1).abs().max() < 1e-4
    assert torch.equal(model.feature_std[0, :2], torch.full((2,), STD_FLOOR))  # the root relative to itself


@pytest.mark.parametrize("tokens", ["joints", "parts", "sparse+parts"])
def test_output_does_not_depend_on_the_order_of_dense_and_fine_inputs_permuted_with_their_weights(tokens):
    torch.manual_seed(0)
    model = Lifter(_cfg(tokens=tokens), joint_anchors(161, PARTS)).eval()
    x = torch.randn(4, 161, 2) * 0.3
    model.fit_standardization(torch.randn(64, 161, 2) * 0.3)
    torch.nn.init.normal_(model.head.weight, std=0.05)  # the head starts at zero: give it weights to permute
    perm = torch.cat([torch.arange(17), 17 + torch.randperm(144)])
    permuted = Lifter(_cfg(tokens=tokens), model.anchors[perm].numpy()).eval()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    for name in ("anchors", "feature_mean", "feature_std", "embed_weight", "embed_bias"):
        state[name] = state[name][perm]
    if tokens == "joints":  # the read-out's weights for each token move with it
        w = state["head.weight"]
        state["head.weight"] = w.view(w.shape[0], 161, -1)[:, perm].reshape(w.shape)
    else:
        state["part_sum"] = state["part_sum"][:, perm]
    permuted.load_state_dict(state)
    with torch.no_grad():
        torch.testing.assert_close(permuted(x[:, perm]), model(x), atol=1e-2, rtol=1e-5)  # mm
        assert not torch.allclose(model(x[:, perm]), model(x), atol=1e-2)  # the order matters without the weights


def fit(model: Lifter, x: torch.Tensor, target: torch.Tensor, c: torch.Tensor | None = None, steps: int = 600
        ) -> float:
    """Fit ``model`` to ``target`` (N, 17, 3) mm from ``x`` (and ``c``) (Adam, lr 1e-2 decaying linearly to 0); its
    MPJPE on those frames afterwards, in eval mode."""
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    decay = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1 - step / steps)
    inputs = (x,) if c is None else (x, c)
    for _ in range(steps):
        loss = (model(*inputs) - target).norm(dim=-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        decay.step()
    model.eval()
    with torch.no_grad():
        return (model(*inputs) - target).norm(dim=-1).mean().item()


@pytest.mark.parametrize("tokens,readout", [("sparse+parts", "all"), ("joints", "all"), ("joints", "sparse")])
def test_root_is_zero_and_a_tiny_lifter_overfits_a_few_frames_below_a_millimetre(tokens, readout):
    torch.manual_seed(0)
    model = Lifter(_cfg(dim=16, depth=1, heads=2, tokens=tokens, readout=readout), joint_anchors(161, PARTS))
    x = torch.randn(8, 161, 2) * 0.3
    target = torch.randn(8, 17, 3) * 200.0  # mm, arbitrary: only memorised
    target -= target[:, :1].clone()
    model.fit_standardization(x)
    assert torch.equal(model(x)[:, 0], torch.zeros(8, 3))
    assert fit(model, x, target) < 1.0


def test_a_sparse_lifter_reads_17_joints_and_rebuilds_from_its_arguments():
    model = Lifter(_cfg(), joint_anchors(17))
    assert model.num_inputs == 17
    rebuilt = Lifter.from_args(model.model_args())
    rebuilt.load_state_dict(model.state_dict())
    x = torch.randn(3, 17, 2)
    torch.testing.assert_close(rebuilt(x), model(x))

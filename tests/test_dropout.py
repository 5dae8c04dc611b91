"""Spiking dropout (mask fixed per simulation) and DropConnect."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from snnlab.functional import reset_net
from snnlab.layers import DropConnectLinear, Dropout, Dropout2d
from snnlab.neurons import IF

T, B, C, H, W = 5, 4, 8, 3, 3


@pytest.mark.parametrize("step_mode", ["s", "m"])
def test_dropout_mask_constant_over_steps_and_redrawn_after_reset(step_mode):
    torch.manual_seed(0)
    p = 0.5
    drop = Dropout(p, step_mode=step_mode)
    x = torch.ones(T, B, 64)
    run = (lambda: torch.stack([drop(x_t) for x_t in x])) if step_mode == "s" else (lambda: drop(x))
    y = run()
    assert set(y.unique().tolist()) <= {0.0, 1 / (1 - p)}
    assert 0 < (y[0] == 0).sum() < y[0].numel()
    for t in range(1, T):
        assert torch.equal(y[t], y[0])
    # still the same mask on the next call until reset
    y_again = run()
    assert torch.equal(y_again, y)
    drop.reset()
    assert not torch.equal(run(), y)


def test_dropout_single_and_multi_step_use_one_mask_the_same_way():
    x = torch.rand(T, B, C)
    drop = Dropout(0.3)
    torch.manual_seed(1)
    y_s = torch.stack([drop(x_t) for x_t in x])
    drop.reset()
    drop.step_mode = "m"
    torch.manual_seed(1)
    torch.testing.assert_close(drop(x), y_s)


def test_dropout2d_drops_whole_channels_for_the_whole_sequence():
    torch.manual_seed(0)
    drop = Dropout2d(0.5, step_mode="m")
    assert Dropout2d().p == 0.2
    y = drop(torch.ones(T, B, C, H, W))
    per_channel = y.flatten(3)  # [T, B, C, H*W]
    assert torch.equal(per_channel.amin(dim=-1), per_channel.amax(dim=-1))  # channel all kept or all dropped
    assert torch.equal(y, y[:1].expand_as(y))
    assert 0 < (y == 0).any(dim=(3, 4)).sum() < T * B * C


def test_dropout_identity_in_eval_and_p_validation():
    x = torch.randn(T, B, C)
    for layer in (Dropout(0.9, step_mode="m"), Dropout2d(0.9, step_mode="m")):
        layer.eval()
        assert torch.equal(layer(x.unsqueeze(-1)), x.unsqueeze(-1))
    assert torch.equal(Dropout(0.0, step_mode="m")(x), x)
    for bad in (1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match=r"p=.*: must be in \[0, 1\)"):
            Dropout(bad)
        with pytest.raises(ValueError, match=r"p=.*: must be in \[0, 1\)"):
            Dropout2d(bad)


def test_dropout_state_out_of_state_dict_and_shape_change_needs_reset():
    drop = Dropout(0.5)
    drop(torch.ones(B, C))
    assert drop.mask is not None
    assert drop.state_dict() == {}
    with pytest.raises(RuntimeError, match="reset"):
        drop(torch.ones(B + 1, C))
    reset_net(drop)
    assert drop.mask is None
    drop(torch.ones(B + 1, C))


def test_dropout_gradient_uses_the_mask():
    torch.manual_seed(0)
    drop = Dropout(0.5)
    x = torch.ones(B, C, requires_grad=True)
    drop(x).sum().backward()
    torch.testing.assert_close(x.grad, drop.mask)


# -- DropConnect ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("training", [True, False])
def test_dropconnect_p0_equals_linear_then_activation(training):
    torch.manual_seed(0)
    dc = DropConnectLinear(6, 4, p=0.0, samples_num=16)
    dc.train(training)
    lin = nn.Linear(6, 4)
    lin.load_state_dict(dc.state_dict())
    x = torch.randn(B, 6)
    torch.testing.assert_close(dc(x), torch.relu(lin(x)))
    dc.step_mode = "m"
    x_seq = torch.randn(T, B, 6)
    torch.testing.assert_close(dc(x_seq), torch.relu(lin(x_seq)))


def test_dropconnect_training_uses_one_weight_mask_per_sample():
    torch.manual_seed(0)
    dc = DropConnectLinear(5, 3, p=0.5, activation=None)
    x = torch.randn(B, 5)
    y = dc(x)
    assert dc.weight_mask.shape == (B, 3, 5)
    assert not torch.equal(dc.weight_mask[0], dc.weight_mask[1])
    for b in range(B):  # slow reference: each sample through its own masked weights
        w_b = dc.weight * dc.weight_mask[b]
        torch.testing.assert_close(y[b], w_b @ x[b] + dc.bias * dc.bias_mask[b])


def test_dropconnect_invariant_keeps_masks_until_reset():
    torch.manual_seed(0)
    dc = DropConnectLinear(5, 3, p=0.5, invariant=True)
    dc(torch.randn(B, 5))
    first = dc.weight_mask.clone()
    dc(torch.randn(B, 5))
    assert torch.equal(dc.weight_mask, first)
    with pytest.raises(RuntimeError, match="reset"):
        dc(torch.randn(B + 1, 5))
    dc.reset()
    assert dc.weight_mask is None
    dc(torch.randn(B, 5))
    assert not torch.equal(dc.weight_mask, first)
    variant = DropConnectLinear(5, 3, p=0.5)
    variant(torch.randn(B, 5))
    m = variant.weight_mask.clone()
    variant(torch.randn(B, 5))
    assert not torch.equal(variant.weight_mask, m)
    assert set(dc.state_dict()) == {"weight", "bias"}


def test_dropconnect_inference_matches_gaussian_moments():
    torch.manual_seed(0)
    p = 0.3
    dc = DropConnectLinear(4, 2, p=p, samples_num=200_000, activation=None).eval()
    x = torch.randn(1, 4)
    # without activation the average is the Gaussian mean (1-p)(Wx + b)
    expected_mean = (1 - p) * (x @ dc.weight.T + dc.bias)
    torch.testing.assert_close(dc(x), expected_mean, rtol=0, atol=0.01)
    # with ReLU the average is E[relu(u)] for u ~ N(mu, sigma²): closed form mu·Φ(mu/σ) + σ·φ(mu/σ)
    dc.activation = nn.ReLU()
    mu = expected_mean
    sigma = (p * (1 - p) * (x.square() @ dc.weight.square().T + dc.bias.square())).sqrt()
    z = mu / sigma
    normal = torch.distributions.Normal(0.0, 1.0)
    closed = mu * normal.cdf(z) + sigma * normal.log_prob(z).exp()
    torch.testing.assert_close(dc(x), closed, rtol=0, atol=0.01)


def test_dropconnect_activation_is_per_layer_and_stateful_activation_is_reset():
    a, b = DropConnectLinear(2, 2), DropConnectLinear(2, 2)
    assert isinstance(a.activation, nn.ReLU) and a.activation is not b.activation
    dc = DropConnectLinear(3, 2, p=0.0, activation=IF())
    dc(torch.ones(B, 3))
    assert isinstance(dc.activation.v, torch.Tensor)
    dc.reset()
    assert dc.activation.v == 0.0

"""OTTT: ReplaceforGrad, GradwithTrace, SpikeTraceOp, OTTTSequential, the OTTTLIF neuron, and the normaliser-free
layers of OTTT's networks (ScaledWSConv2d, Scale)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from snnlab import registry
from snnlab.layers import (
    Dropout,
    GradwithTrace,
    OTTTSequential,
    ReplaceforGrad,
    Scale,
    ScaledWSConv2d,
    SpikeTraceOp,
)
from snnlab.neurons import OTTTLIF

B, N_IN, N_OUT = 3, 5, 4


def test_replace_for_grad_value_and_gradients():
    x = torch.randn(B, N_IN, requires_grad=True)
    x_r = torch.randn(B, N_IN, requires_grad=True)
    y = ReplaceforGrad.apply(x, x_r)
    assert torch.equal(y, x_r)
    g = torch.randn(B, N_IN)
    y.backward(g)
    assert torch.equal(x.grad, g) and torch.equal(x_r.grad, g)


def test_grad_with_trace_weight_gradient_is_grad_out_times_trace():
    torch.manual_seed(0)
    fc = nn.Linear(N_IN, N_OUT)
    spike = (torch.rand(B, N_IN) > 0.5).float()
    trace = torch.rand(B, N_IN) + spike  # differs from the spikes
    out = GradwithTrace(fc)([spike, trace])
    torch.testing.assert_close(out, spike @ fc.weight.T + fc.bias)  # value from the spikes
    grad_out = torch.randn(B, N_OUT)
    out.backward(grad_out)
    torch.testing.assert_close(fc.weight.grad, grad_out.T @ trace)
    torch.testing.assert_close(fc.bias.grad, grad_out.sum(0))


def test_spike_trace_op_applies_module_to_both():
    pool = nn.AvgPool1d(2)
    spike, trace = torch.rand(B, 2, 6), torch.rand(B, 2, 6)
    s, a = SpikeTraceOp(pool)([spike, trace])
    torch.testing.assert_close(s, pool(spike))
    torch.testing.assert_close(a, pool(trace))
    with pytest.raises(TypeError, match=r"\[spike, trace\]"):
        SpikeTraceOp(pool)(spike)


def test_ottt_lif_trace_and_soft_reset_by_hand():
    tau = 2.0
    neuron = OTTTLIF(tau=tau)
    assert neuron.v_reset is None and neuron.decay_input is False and neuron.detach_reset is True
    x = [torch.tensor([[0.8, 0.3]]), torch.tensor([[0.8, 0.3]]), torch.tensor([[0.0, 1.0]])]
    # by hand, OTTT's charge without input decay h = v - v/2 + x, fire at h >= 1, soft reset v = h - s
    # n0: h=0.8 s=0 v=0.8 | h=1.2 s=1 v=0.2 | h=0.1 s=0 v=0.1
    # n1: h=0.3 s=0 v=0.3 | h=0.45 s=0 v=0.45 | h=1.225 s=1 v=0.225
    spikes = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]
    traces = [[0.0, 0.0], [1.0, 0.0], [0.5, 1.0]]  # a_t = (1 - 1/τ) a_{t-1} + s_t
    for x_t, s_exp, a_exp in zip(x, spikes, traces):
        s, a = neuron(x_t)
        torch.testing.assert_close(s, torch.tensor([s_exp]))
        torch.testing.assert_close(a, torch.tensor([a_exp]))
    torch.testing.assert_close(neuron.v, torch.tensor([[0.1, 0.225]]))
    neuron.eval()
    neuron.reset()
    out = neuron(x[0] * 2)
    assert isinstance(out, torch.Tensor)
    torch.testing.assert_close(out, torch.tensor([[1.0, 0.0]]))
    assert set(neuron.state_dict()) == set()
    # with input decay (h = v + (x - v)/2) the same inputs fire later: n0 reaches 0.4, then 0.6, ...
    decaying = OTTTLIF(tau=tau, decay_input=True)
    assert [decaying(x_t)[0].sum().item() for x_t in x] == [0.0, 0.0, 0.0]


def test_ottt_lif_is_registered_with_the_official_defaults():
    neuron = registry.build("neuron", "ottt_lif")
    assert isinstance(neuron, OTTTLIF) and neuron.online
    assert (neuron.tau, neuron.v_threshold, neuron.surrogate.name, neuron.surrogate.alpha) == (2.0, 1.0, "sigmoid", 4.0)
    with pytest.raises(ValueError, match=r"OTTTLIF cannot run in step mode 'm'.*learning=ottt"):
        registry.build("neuron", "ottt_lif", step_mode="m")


def test_ottt_lif_detaches_membrane_between_steps_and_reset_restores():
    neuron = OTTTLIF(tau=2.0)
    x1 = torch.full((1, 2), 0.8, requires_grad=True)
    x2 = torch.full((1, 2), 0.8, requires_grad=True)
    neuron(x1)
    s, a = neuron(x2)
    (s.sum() + a.sum()).backward()
    assert x1.grad is None  # no graph across steps
    assert x2.grad is not None and x2.grad.abs().sum() > 0
    neuron.reset()
    assert neuron.v == 0.0 and neuron.trace == 0.0
    with pytest.raises(ValueError, match="OTTTLIF cannot run in step mode 'm'"):
        OTTTLIF(step_mode="m")
    with pytest.raises(ValueError, match="soft reset"):
        OTTTLIF(v_reset=0.0)


def test_ottt_sequential_online_weight_gradient_matches_hand_computation():
    torch.manual_seed(0)
    fc1, fc2 = nn.Linear(N_IN, N_OUT), nn.Linear(N_OUT, 2)
    net = OTTTSequential(fc1, OTTTLIF(tau=2.0, v_threshold=0.3), Dropout(0.0), fc2)
    seen: list[list[torch.Tensor]] = []
    net[1].register_forward_hook(lambda m, i, o: seen.append([t.detach() for t in o]))
    for _ in range(3):  # online: each step's loss is backpropagated on its own
        for p in net.parameters():
            p.grad = None
        out = net(torch.rand(B, N_IN) * 2)
        spike, trace = seen[-1]
        torch.testing.assert_close(out, spike @ fc2.weight.T + fc2.bias)  # value from the spikes
        out.sum().backward()
        torch.testing.assert_close(fc2.weight.grad, torch.ones(B, 2).T @ trace)  # gradient from the trace
        assert fc1.weight.grad is not None
    assert not torch.equal(seen[-1][0], seen[-1][1])
    net.eval()
    net[1].reset()
    assert isinstance(net(torch.rand(B, N_IN)), torch.Tensor)


def test_scaled_ws_conv_standardizes_each_output_channel_by_hand():
    torch.manual_seed(0)
    conv = ScaledWSConv2d(3, 4, 3, padding=1)
    with torch.no_grad():
        conv.weight.mul_(5).add_(2)  # far from standardized
        conv.gain.copy_(torch.tensor([1.0, 2.0, 0.5, 3.0]).view(4, 1, 1, 1))
    w = conv.weight.detach().reshape(4, -1)
    n = w.shape[1]  # fan_in = 27
    mean = w.sum(1, keepdim=True) / n
    var = ((w - mean) ** 2).sum(1, keepdim=True) / (n - 1)  # unbiased, as torch.var
    w_hat = (w - mean) / torch.sqrt(var * n + 1e-4) * conv.gain.detach().reshape(4, 1)
    x = torch.randn(2, 3, 5, 5)
    torch.testing.assert_close(conv(x), F.conv2d(x, w_hat.reshape(4, 3, 3, 3), conv.bias, padding=1))
    # gain 1: zero mean and (almost) unit norm per channel, whatever the raw weight's scale
    norms = (w_hat / conv.gain.detach().reshape(4, 1)).square().sum(1)
    torch.testing.assert_close(norms, torch.full((4,), (n - 1) / n), rtol=1e-4, atol=0)
    # step mode m folds time: the same result per step
    conv_m = ScaledWSConv2d(3, 4, 3, padding=1, step_mode="m")
    conv_m.load_state_dict(conv.state_dict())
    x_seq = torch.randn(3, 2, 3, 5, 5)
    torch.testing.assert_close(conv_m(x_seq), torch.stack([conv(x_t) for x_t in x_seq]))
    assert ScaledWSConv2d(3, 4, 3, gain=False).gain is None
    with pytest.raises(ValueError, match=r"eps=0\.0: must be a real number > 0"):
        ScaledWSConv2d(3, 4, 3, eps=0.0)


def test_scale_multiplies_in_both_step_modes():
    x = torch.randn(2, 3, 4)
    torch.testing.assert_close(Scale(2.74)(x), 2.74 * x)
    torch.testing.assert_close(Scale(0.5, step_mode="m")(x), 0.5 * x)


def test_nested_ottt_sequential_routes_the_pair_inside():
    torch.manual_seed(0)
    inner = OTTTSequential(nn.Linear(N_OUT, N_OUT), OTTTLIF(v_threshold=0.2), Scale(2.0))
    net = OTTTSequential(nn.Linear(N_IN, N_OUT), OTTTLIF(v_threshold=0.2), inner, nn.Linear(N_OUT, 2))
    seen: list[list[torch.Tensor]] = []
    inner[1].register_forward_hook(lambda m, i, o: seen.append([t.detach() for t in o]))
    for _ in range(3):  # online: a backward per step; from the second step on the trace differs from the spikes
        net.zero_grad()
        out = net(torch.ones(B, N_IN))
        spike, trace = seen[-1]
        torch.testing.assert_close(out, 2.0 * spike @ net[3].weight.T + net[3].bias)
        out.sum().backward()
        torch.testing.assert_close(net[3].weight.grad, torch.ones(B, 2).T @ (2.0 * trace))
        assert inner[0].weight.grad.abs().sum() > 0 and net[0].weight.grad.abs().sum() > 0
    assert not torch.equal(spike, trace)

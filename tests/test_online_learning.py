"""OTTT: ReplaceforGrad, GradwithTrace, SpikeTraceOp, OTTTSequential and the OTTTLIF neuron."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from snnlab.layers import (
    Dropout,
    GradwithTrace,
    OTTTSequential,
    ReplaceforGrad,
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
    assert neuron.v_reset is None
    x = [torch.tensor([[1.5, 0.5]]), torch.tensor([[1.5, 0.5]]), torch.tensor([[0.0, 2.0]])]
    # by hand, h = v + (x - v)/2, fire at h >= 1, soft reset v = h - s
    # n0: h=0.75 s=0 v=0.75 | h=1.125 s=1 v=0.125 | h=0.0625 s=0
    # n1: h=0.25 s=0 v=0.25 | h=0.375 s=0 v=0.375 | h=1.1875 s=1
    spikes = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]
    traces = [[0.0, 0.0], [1.0, 0.0], [0.5, 1.0]]  # a_t = (1 - 1/τ) a_{t-1} + s_t
    for x_t, s_exp, a_exp in zip(x, spikes, traces):
        s, a = neuron(x_t)
        torch.testing.assert_close(s, torch.tensor([s_exp]))
        torch.testing.assert_close(a, torch.tensor([a_exp]))
    torch.testing.assert_close(neuron.v, torch.tensor([[0.0625, 0.1875]]))
    neuron.eval()
    neuron.reset()
    out = neuron(x[0] * 2)
    assert isinstance(out, torch.Tensor)
    torch.testing.assert_close(out, torch.tensor([[1.0, 0.0]]))
    assert set(neuron.state_dict()) == set()


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

"""Neurons that only declarations make possible: the adaptive-threshold LIF (states v, a), the current-based LIF
(states i, v) and PLIF with one learnable τ per channel, against per-step loops written here from their
equations, on every CPU backend: spikes exactly; states and the gradients of the input, every initial state
and every parameter within 1e-5 (fp32)."""

import math
import zlib

import pytest
import torch
from reference_spike import RefSpike

from snnlab import registry
from snnlab.kernels import cpu_backend, torch_backend
from snnlab.neurons import CUBALIF, LIF, PLIF, AdaptiveLIF

T, B, C = 6, 3, 4
BACKENDS = {"torch": torch_backend.multi_step, "cpu": cpu_backend.multi_step}


def _reset(h, s, threshold, v_reset, detach_reset):
    s = s.detach() if detach_reset else s
    return (h - s * threshold if v_reset is None else s * v_reset + (1 - s) * h), s


def alif_reference(x_seq, v, a, decay, rho, beta, *, v_reset, detach_reset):
    """Bellec et al. 2020: h = v + (x - (v - v_r))/τ, A = 1 + β·a, s = Θ(h - A), a' = ρ·a + s."""
    vr, spikes, vs = v_reset or 0.0, [], []
    for x in x_seq:
        h = v + (x - (v - vr)) * decay
        threshold = 1.0 + beta * a
        s = RefSpike.apply(h - threshold)
        v, s_reset = _reset(h, s, threshold, v_reset, detach_reset)
        a = rho * a + s_reset
        spikes.append(s)
        vs.append(v)
    return torch.stack(spikes), torch.stack(vs), (v, a)


def cuba_reference(x_seq, i, v, alpha, decay, *, v_reset, detach_reset):
    """i' = i·α + x (α = 1 - 1/τ_syn), h = v + (i' - (v - v_r))/τ_mem, s = Θ(h - 1)."""
    vr, spikes, vs = v_reset or 0.0, [], []
    for x in x_seq:
        i = i * alpha + x
        h = v + (i - (v - vr)) * decay
        s = RefSpike.apply(h - 1.0)
        v, _ = _reset(h, s, 1.0, v_reset, detach_reset)
        spikes.append(s)
        vs.append(v)
    return torch.stack(spikes), torch.stack(vs), (i, v)


def plif_reference(x_seq, v, decay, *, v_reset, detach_reset):
    """LIF with one decay per channel (dim 1 of [B, C])."""
    vr, spikes, vs = v_reset or 0.0, [], []
    for x in x_seq:
        h = v + (x - (v - vr)) * decay
        s = RefSpike.apply(h - 1.0)
        v, _ = _reset(h, s, 1.0, v_reset, detach_reset)
        spikes.append(s)
        vs.append(v)
    return torch.stack(spikes), torch.stack(vs), (v,)


KINDS = {  # neuron, reference, parameter values (in declaration order)
    "alif": (lambda **k: AdaptiveLIF(tau=2.0, tau_a=5.0, beta=0.4, **k), alif_reference, [0.5, math.exp(-0.2), 0.4]),
    "cuba": (lambda **k: CUBALIF(tau_syn=2.5, tau_mem=2.0, **k), cuba_reference, [1 - 1 / 2.5, 0.5]),
    "plif": (lambda **k: PLIF(init_tau=2.0, channels=C, **k), plif_reference, [torch.linspace(0.3, 0.6, C)]),
}


def _inputs(key):
    g = torch.Generator().manual_seed(zlib.crc32(repr(key).encode()))
    x = torch.rand(T, B, C, generator=g) * 2.6 - 0.3
    return x, [torch.rand(B, C, generator=g) * 0.6 - 0.1 for _ in range(2)]


def _loss(s, v_seq, last, key):
    g = torch.Generator().manual_seed(zlib.crc32(repr(key).encode()) + 1)
    loss = (s * torch.randn(s.shape, generator=g)).sum() + v_seq.square().sum()
    return loss + sum((v * torch.randn(v.shape, generator=g)).sum() for v in last)


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@pytest.mark.parametrize("detach_reset", [False, True])
@pytest.mark.parametrize("v_reset", [0.0, None])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_backend_matches_reference_with_learnable_parameters(kind, v_reset, detach_reset, backend):
    make, reference, values = KINDS[kind]
    dyn = make(v_reset=v_reset, detach_reset=detach_reset).dynamics
    x, init = _inputs((kind, v_reset, detach_reset))
    init = [t.clone().requires_grad_() for t in init[: len(dyn.states)]]
    x.requires_grad_()
    params = [torch.as_tensor(v, dtype=torch.float32).clone().requires_grad_() for v in values]

    s, last, v_seq = BACKENDS[backend](dyn, x, init, params, True)
    s_ref, v_ref, last_ref = reference(x, *init, *params, v_reset=v_reset, detach_reset=detach_reset)

    assert torch.equal(s, s_ref)
    assert 0 < s.sum() < s.numel()  # the inputs exercise both firing and silence
    torch.testing.assert_close(v_seq, v_ref, rtol=1e-5, atol=1e-5)
    for a, b in zip(last, last_ref):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    leaves = [x, *init, *params]
    got = torch.autograd.grad(_loss(s, v_seq, last, kind), leaves)
    want = torch.autograd.grad(_loss(s_ref, v_ref, last_ref, kind), leaves)
    for k, (a, b) in enumerate(zip(got, want)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5, msg=f"gradient {k} of {kind}")


@pytest.mark.parametrize("step_mode", ["s", "m"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_module_matches_reference(kind, step_mode):
    """The registered module: its memories, its parameter transform (PLIF: sigmoid per channel), both step modes."""
    make, reference, values = KINDS[kind]
    neuron = make(v_reset=None, step_mode=step_mode, store_v_seq=True)
    x, init = _inputs((kind, step_mode))
    x.requires_grad_()
    names = neuron.dynamics.state_names
    init = [t.requires_grad_() for t in init[: len(names)]]
    for name, value in zip(names, init):
        setattr(neuron, name, value)
    if step_mode == "m":
        s, v_seq = neuron(x), neuron.v_seq
    else:
        steps = [(neuron(x_t), neuron.v) for x_t in x]
        s, v_seq = (torch.stack(seq) for seq in zip(*steps))
    last = [getattr(neuron, name) for name in names]
    if kind == "plif":
        values = [neuron.w.sigmoid()]
    s_ref, v_ref, last_ref = reference(x, *init, *values, v_reset=None, detach_reset=False)
    assert torch.equal(s, s_ref)
    torch.testing.assert_close(v_seq, v_ref, rtol=1e-5, atol=1e-5)
    for a, b in zip(last, last_ref):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    leaves = [x, *init, *neuron.parameters()]
    got = torch.autograd.grad(_loss(s, v_seq, last, kind), leaves)
    want = torch.autograd.grad(_loss(s_ref, v_ref, last_ref, kind), leaves)
    for k, (a, b) in enumerate(zip(got, want)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5, msg=f"gradient {k}")


def test_registered_and_states_are_memories():
    assert registry.get("neuron", "alif") is AdaptiveLIF and registry.get("neuron", "cuba_lif") is CUBALIF
    n = AdaptiveLIF(v_reset=-0.1, step_mode="m", store_v_seq=True)
    assert (n.v, n.a) == (-0.1, 0.0)
    n(torch.rand(4, 2, 3) * 2)
    assert n.v.shape == n.a.shape == (2, 3) and n.v_seq.shape == (4, 2, 3) and n.a.max() > 0
    assert set(n.state_dict()) == set()
    with pytest.raises(RuntimeError, match=r"AdaptiveLIF.v holds state of shape \(2, 3\).*reset\(\)"):
        n(torch.rand(4, 5, 3))
    n.reset()
    assert (n.v, n.a, n.v_seq) == (-0.1, 0.0, None)
    cuba = CUBALIF(step_mode="m")
    cuba(torch.rand(3, 2))
    assert cuba.i.shape == (2,) and cuba.v.shape == (2,)


def test_adaptation_raises_the_threshold():
    x = torch.full((50, 1), 1.5)
    lif, alif = LIF(step_mode="m"), AdaptiveLIF(tau=2.0, tau_a=20.0, beta=0.5, step_mode="m")
    assert alif(x).sum() < lif(x).sum()
    assert AdaptiveLIF(beta=0.0, step_mode="m")(x).sum() == lif(x).sum()  # no adaptation: LIF


def test_per_channel_plif_parameter_and_shape_check():
    n = PLIF(init_tau=4.0, channels=3, step_mode="m")
    assert n.w.shape == (3,) and torch.allclose(n.tau, torch.full((3,), 4.0))
    assert "channels=3" in repr(n)
    with pytest.raises(ValueError, match=r"per-channel parameter 'decay' needs a \[C\] tensor.*\(2, 5\)"):
        n(torch.rand(4, 2, 5))

"""Every neuron variant against a slow per-step loop written straight from the equations (GUIDE §2)."""

import itertools
import math
import zlib

import pytest
import torch
from reference_spike import RefSpike

from snnlab import functional
from snnlab.math.surrogate import ATan
from snnlab.neurons import CUBALIF, IF, LIF, PLIF, RIF, AdaptiveLIF

T, SHAPE = 6, (3, 7)


def reference(kind, x_seq, v0, *, v_th, v_reset, detach_reset, decay_input=True, tau=None, w=None):
    """Spikes and membrane potentials ``[T, ...]`` by the textbook loop."""
    vr = 0.0 if v_reset is None else v_reset
    v, spikes, vs = v0, [], []
    for x in x_seq:
        if kind == "if":
            h = v + x
        elif kind in ("lif", "plif"):
            k = 1 / tau if kind == "lif" else torch.sigmoid(w)
            h = v + (x - (v - vr)) * k if decay_input else v - (v - vr) * k + x
        else:
            h = v + w * (v - vr) + x
        s = RefSpike.apply(h - v_th)
        sr = s.detach() if detach_reset else s
        v = h - sr * v_th if v_reset is None else sr * vr + (1 - sr) * h
        spikes.append(s)
        vs.append(v)
    return torch.stack(spikes), torch.stack(vs)


def make_neuron(kind, **kw):
    return {"if": IF, "lif": lambda **k: LIF(tau=1.7, **k), "plif": lambda **k: PLIF(init_tau=2.5, **k), "rif": RIF}[
        kind
    ](**kw)


VARIANTS = [
    (kind, v_reset, detach, decay)
    for kind, v_reset, detach, decay in itertools.product(
        ["if", "lif", "plif", "rif"], [0.0, -0.2, None], [False, True], [True, False]
    )
    if decay or kind in ("lif", "plif")
]


def _inputs(seed: int):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand((T, *SHAPE), generator=g) * 2.2 - 0.3).requires_grad_(True)
    v0 = (torch.rand(SHAPE, generator=g) * 0.8 - 0.2).requires_grad_(True)
    return x, v0


@pytest.mark.parametrize("step_mode", ["s", "m"])
@pytest.mark.parametrize(("kind", "v_reset", "detach_reset", "decay_input"), VARIANTS)
def test_neuron_matches_reference(kind, v_reset, detach_reset, decay_input, step_mode):
    kw = {"v_threshold": 0.8, "v_reset": v_reset, "detach_reset": detach_reset, "step_mode": step_mode}
    if kind in ("lif", "plif"):
        kw["decay_input"] = decay_input
    neuron = make_neuron(kind, store_v_seq=True, **kw)
    x, v0 = _inputs(zlib.crc32(repr((kind, v_reset, detach_reset, decay_input)).encode()))

    neuron.v = v0
    if step_mode == "m":
        s = neuron(x)
        v_seq = neuron.v_seq
    else:
        outs = [(neuron(xt), neuron.v) for xt in x]
        s, v_seq = torch.stack([o[0] for o in outs]), torch.stack([o[1] for o in outs])
    param = getattr(neuron, "w", None)
    tau = getattr(neuron, "tau", None) if kind == "lif" else None
    s_ref, v_ref = reference(
        kind, x, v0, v_th=0.8, v_reset=v_reset, detach_reset=detach_reset, decay_input=decay_input, tau=tau, w=param
    )

    assert torch.equal(s, s_ref)
    assert 0 < s.sum() < s.numel()  # the inputs exercise both firing and silence
    torch.testing.assert_close(v_seq, v_ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(neuron.v, v_ref[-1], rtol=1e-5, atol=1e-5)

    # gradients of a loss touching both outputs: input, initial state and the learnable parameter
    wts = torch.randn_like(s)
    inputs = [x, v0] + ([param] if param is not None else [])
    got = torch.autograd.grad((s * wts).sum() + v_seq.square().sum(), inputs)
    ref = torch.autograd.grad((s_ref * wts).sum() + v_ref.square().sum(), inputs)
    for g, r in zip(got, ref):
        torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-5)


def test_lif_by_hand():
    """Three steps of LIF(τ=2, hard reset 0, v_th=1) worked on paper."""
    lif = LIF(tau=2.0, step_mode="m")
    s = lif(torch.tensor([[1.5], [1.5], [0.4]]))
    # h1 = 0 + (1.5 - 0)/2 = 0.75 -> no spike, v1 = 0.75
    # h2 = 0.75 + (1.5 - 0.75)/2 = 1.125 -> spike, v2 = 0
    # h3 = 0 + 0.4/2 = 0.2 -> no spike
    assert s.flatten().tolist() == [0.0, 1.0, 0.0]
    assert lif.v.item() == pytest.approx(0.2)


def test_threshold_equality_fires():
    assert IF(v_threshold=1.0)(torch.tensor([1.0])).item() == 1.0


def test_soft_reset_keeps_residual():
    n = IF(v_reset=None)
    n(torch.tensor([1.75]))
    assert n.v.item() == pytest.approx(0.75)


def test_plif_tau_is_learnable_and_initialised():
    n = PLIF(init_tau=4.0)
    assert n.tau == pytest.approx(4.0)
    assert torch.sigmoid(n.w).item() == pytest.approx(0.25)
    assert [name for name, _ in n.named_parameters()] == ["w"]


def test_state_is_not_in_state_dict_and_reset_restores():
    n = LIF(v_reset=-0.1, step_mode="m")
    n(torch.rand(3, 2, 4))
    assert set(n.state_dict()) == set()
    assert isinstance(n.v, torch.Tensor)
    n.reset()
    assert n.v == -0.1
    functional.reset_net(torch.nn.Sequential(n))


def test_shape_change_without_reset_is_an_error():
    n = IF(step_mode="m")
    n(torch.rand(2, 4, 3))
    with pytest.raises(RuntimeError, match=r"shape \(4, 3\).*\(5, 3\).*reset\(\)"):
        n(torch.rand(2, 5, 3))
    n.reset()
    assert n(torch.rand(2, 5, 3)).shape == (2, 5, 3)


def test_store_v_seq_and_multi_step_rank_check():
    n = LIF(step_mode="m", store_v_seq=True)
    n(torch.rand(4, 2))
    assert n.v_seq.shape == (4, 2)
    with pytest.raises(ValueError, match=r"expects \[T, B, \.\.\.\]"):
        LIF(step_mode="m")(torch.rand(5))


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: LIF(tau=1.0), r"LIF: tau=1.0: must be a real number > 1"),
        (lambda: PLIF(init_tau=0.5), r"init_tau=0.5: must be a real number > 1"),
        (lambda: PLIF(channels=0), r"channels=0: must be an integer >= 1"),
        (lambda: AdaptiveLIF(tau_a=0.0), r"tau_a=0.0: must be a real number > 0"),
        (lambda: CUBALIF(tau_syn=0.5), r"tau_syn=0.5: must be a real number >= 1"),
        (lambda: IF(v_threshold=True), "v_threshold=True: must be a real number"),
        (lambda: IF(v_threshold="1"), "v_threshold='1': must be a real number"),
        (lambda: IF(v_reset=1.0, v_threshold=1.0), r"v_reset=1.0: must be below v_threshold \(1\)"),
        (lambda: IF(detach_reset=1), r"detach_reset=1: must be true or false"),
        (lambda: IF(step_mode="x"), r"IF: step_mode='x': must be 'm'"),
        (lambda: IF(backend="triton"), r"backend='triton': unknown neuron backend; valid"),
        (lambda: IF(surrogate="atan"), r"surrogate='atan': a surrogate is a Surrogate object, e.g. surrogate=ATan"),
    ],
)
def test_bad_arguments_raise_clear_errors(build, match):
    with pytest.raises((ValueError, TypeError), match=match):
        build()


def test_surrogate_choice_changes_gradient_only():
    x = torch.full((1,), 0.5, requires_grad=True)
    IF(surrogate=ATan(alpha=2.0))(x).backward()
    assert x.grad.item() == pytest.approx(1.0 / (1 + (math.pi / 2 * 2.0 * -0.5) ** 2))


def test_cupy_backend_on_cpu_tensor_is_a_clear_error():
    n = LIF(step_mode="m", backend="cupy")
    with pytest.raises(ValueError, match=r"^backend='cupy': runs on cuda tensors"):
        n(torch.rand(2, 3))

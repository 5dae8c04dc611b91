"""The fused cupy kernels against the torch backend on a GPU, across the whole variant matrix.

Half-precision runs are compared with the torch backend in fp32 on the same (upcast) values: the kernels do
fp32 math on fp16/bf16 I/O, so spikes must match exactly and everything else up to the output rounding.
"""

import importlib.util

import pytest
import torch

from snnlab.kernels import CUPY, resolve_backend
from snnlab.kernels.codegen import IO_TYPES, dynamics_variants
from snnlab.neurons import CUBALIF, LIF, PLIF, AdaptiveLIF
from snnlab.neurons.nodes import LIFDynamics, RIFDynamics

if not torch.cuda.is_available() or importlib.util.find_spec("cupy") is None:
    pytest.skip("needs a CUDA device and CuPy", allow_module_level=True)

from snnlab.kernels import cupy_backend, torch_backend

pytestmark = pytest.mark.gpu
TOL = {torch.float32: 1e-5, torch.float16: 1e-2, torch.bfloat16: 1e-2}
PARAMS = {"decay": 0.4, "w": -0.05, "rho": 0.8, "beta": 0.3, "alpha": 0.6}
"""Test values of the declared parameters (others: 0.5)."""


def _param_sets(dyn, channels):
    """Learnable parameters (0-dim, or ``[C]`` per channel) and, without per-channel ones, fixed floats."""
    values = [PARAMS.get(q.name, 0.5) for q in dyn.params]
    learnable = [
        (torch.linspace(0.7, 1.3, channels, device="cuda") * v if q.per_channel else torch.tensor(v, device="cuda"))
        for q, v in zip(dyn.params, values)
    ]
    sets = [[p.requires_grad_() for p in learnable]]
    return sets + ([values] if values and not any(q.per_channel for q in dyn.params) else [])


def _run(fn, dyn, x_seq, states, params, weights, store_v_seq):
    """Outputs and gradients (x, every initial state, every learnable parameter) of a loss reading spikes, every
    last state and (if stored) v_seq."""
    x_seq = x_seq.detach().requires_grad_()
    states = [s.detach().requires_grad_() for s in states]
    s_seq, last, v_seq = fn(dyn, x_seq, states, params, store_v_seq)
    w_s, w_last, w_seq = weights
    loss = (s_seq.float() * w_s).sum() + sum((v.float() * w).sum() for v, w in zip(last, w_last))
    if store_v_seq:
        loss = loss + (v_seq.float() * w_seq).sum()
    leaves = [x_seq, *states] + [p for p in params if isinstance(p, torch.Tensor) and p.requires_grad]
    return (s_seq, last, v_seq), torch.autograd.grad(loss, leaves, allow_unused=True)


@pytest.mark.parametrize("dtype", IO_TYPES, ids=str)
@pytest.mark.parametrize("dyn", dynamics_variants(), ids=repr)
def test_cupy_matches_torch_backend(dyn, dtype):
    g = torch.Generator(device="cuda").manual_seed(0)
    T, B, C = 5, 37, 3  # N = 111: odd, a partial warp and block
    # non-contiguous input: a transposed view
    x_seq = (torch.randn(T, C, B, generator=g, device="cuda") + 0.4).to(dtype).transpose(1, 2)
    states = [(0.2 * torch.randn(B, C, generator=g, device="cuda")).to(dtype) for _ in dyn.states]
    weights = [torch.randn(shape, generator=g, device="cuda").to(dtype).float() for shape in
               ((T, B, C), (len(dyn.states), B, C), (T, B, C))]  # fmt: skip
    tol = TOL[dtype]
    for params in _param_sets(dyn, C):
        for store_v_seq in (False, True):
            (s, last, vs), grads = _run(cupy_backend.multi_step, dyn, x_seq, states, params, weights, store_v_seq)
            (s_ref, last_ref, vs_ref), grads_ref = _run(
                torch_backend.multi_step, dyn, x_seq.float(), [v.float() for v in states], params, weights,
                store_v_seq,
            )  # fmt: skip
            assert s.dtype == dtype and s.shape == x_seq.shape
            assert torch.equal(s.float(), s_ref), "spikes differ"
            for a, b in zip(last, last_ref):
                torch.testing.assert_close(a.float(), b, rtol=tol, atol=tol)
            if store_v_seq:
                torch.testing.assert_close(vs.float(), vs_ref, rtol=tol, atol=tol)
            for k, (a, b) in enumerate(zip(grads, grads_ref)):
                b = torch.zeros_like(a) if b is None else b
                torch.testing.assert_close(a.float(), b.float(), rtol=tol, atol=tol, msg=f"gradient {k}")


@pytest.mark.parametrize("dtype", IO_TYPES, ids=str)
def test_large_odd_count_parameter_reduction(dtype):
    """Many blocks of per-element parameter gradients summed, and a scalar initial state."""
    dyn = RIFDynamics(v_reset=None)
    x_seq = torch.randn(8, 3 * 65537, device="cuda").to(dtype)
    w = torch.tensor(-0.05, device="cuda", requires_grad=True)
    s, (v,), _ = cupy_backend.multi_step(dyn, x_seq, [0.0], [w], False)
    (s.float().sum() + v.float().sum()).backward()
    w_ref = w.detach().clone().requires_grad_()
    s_ref, (v_ref,), _ = torch_backend.multi_step(dyn, x_seq.float(), [torch.zeros(())], [w_ref], False)
    (s_ref.sum() + v_ref.sum()).backward()
    assert torch.equal(s.float(), s_ref)
    torch.testing.assert_close(w.grad, w_ref.grad, rtol=1e-4, atol=1e-3)


def test_only_v_last_used_and_no_grad_inference():
    dyn = LIFDynamics(decay_input=True)
    x_seq = torch.randn(4, 1001, device="cuda", requires_grad=True)
    _, (v,), _ = cupy_backend.multi_step(dyn, x_seq, [torch.zeros(1001, device="cuda")], [0.5], False)
    v.sum().backward()  # grad_s arrives as None
    x_ref = x_seq.detach().clone().requires_grad_()
    torch_backend.multi_step(dyn, x_ref, [torch.zeros(1001, device="cuda")], [0.5], False)[1][0].sum().backward()
    torch.testing.assert_close(x_seq.grad, x_ref.grad, rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        s, _, _ = cupy_backend.multi_step(dyn, x_seq, [torch.zeros(1001, device="cuda")], [0.5], False)
    assert not s.requires_grad


@pytest.mark.parametrize(
    "make",
    [
        lambda b: LIF(tau=3.0, step_mode="m", backend=b, store_v_seq=True),
        lambda b: PLIF(v_reset=None, step_mode="m", backend=b, store_v_seq=True),
        lambda b: PLIF(channels=33, step_mode="m", backend=b, store_v_seq=True),
        lambda b: AdaptiveLIF(step_mode="m", backend=b, store_v_seq=True),
        lambda b: CUBALIF(v_reset=None, step_mode="m", backend=b, store_v_seq=True),
    ],
)
def test_auto_picks_cupy_on_cuda_and_modules_agree(make):
    x = torch.randn(6, 4, 33, device="cuda") + 0.5
    assert resolve_backend("auto", x) is CUPY
    assert CUPY.multi_step is cupy_backend.multi_step
    outs = []
    for backend in ("cupy", "torch"):
        node = make(backend).cuda()
        xi = x.clone().requires_grad_()
        s = node(xi)
        (s.sum() + node.v_seq.square().sum()).backward()
        outs.append((s, node.v_seq, xi.grad, [p.grad for p in node.parameters()]))
    (s, vs, gx, gp), (s_r, vs_r, gx_r, gp_r) = outs
    assert torch.equal(s, s_r)
    torch.testing.assert_close(vs, vs_r)
    torch.testing.assert_close(gx, gx_r)
    for a, b in zip(gp, gp_r):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)

"""The fused cupy kernels against the torch backend on a GPU, across the whole variant matrix.

Half-precision runs are compared with the torch backend in fp32 on the same (upcast) values: the kernels do
fp32 math on fp16/bf16 I/O, so spikes must match exactly and everything else up to the output rounding.
"""

import importlib.util

import pytest
import torch

from snnlab.kernels import CUPY, resolve_backend
from snnlab.kernels.codegen import IO_TYPES, dynamics_variants
from snnlab.neurons import LIF, PLIF

if not torch.cuda.is_available() or importlib.util.find_spec("cupy") is None:
    pytest.skip("needs a CUDA device and CuPy", allow_module_level=True)

from snnlab.kernels import cupy_backend, torch_backend

pytestmark = pytest.mark.gpu
TOL = {torch.float32: 1e-5, torch.float16: 1e-2, torch.bfloat16: 1e-2}


def _thetas(kind):
    """θ as the modules pass it: None (IF), a float 1/τ (LIF), a learnable 0-dim tensor (PLIF, RIF)."""
    if kind == "if":
        return [None]
    w = torch.tensor(0.4 if kind == "lif" else -0.05, device="cuda", requires_grad=True)
    return [0.5, w] if kind == "lif" else [w]


def _run(fn, dyn, x_seq, v0, theta, weights, store_v_seq):
    """Outputs and gradients (x, v0, θ) of a loss reading spikes, v_last and (if stored) v_seq."""
    x_seq = x_seq.detach().requires_grad_()
    v0 = v0.detach().requires_grad_()
    s_seq, v_last, v_seq = fn(dyn, x_seq, v0, theta, store_v_seq)
    w_s, w_last, w_seq = weights
    loss = (s_seq.float() * w_s).sum() + (v_last.float() * w_last).sum()
    if store_v_seq:
        loss = loss + (v_seq.float() * w_seq).sum()
    leaves = [x_seq, v0] + ([theta] if isinstance(theta, torch.Tensor) else [])
    grads = torch.autograd.grad(loss, leaves)
    return (s_seq, v_last, v_seq), grads


@pytest.mark.parametrize("dtype", IO_TYPES, ids=str)
@pytest.mark.parametrize("dyn", dynamics_variants(), ids=repr)
def test_cupy_matches_torch_backend(dyn, dtype):
    g = torch.Generator(device="cuda").manual_seed(0)
    T, B, C = 5, 37, 3  # N = 111: odd, a partial warp and block
    # non-contiguous input: a transposed view
    x_seq = (torch.randn(T, C, B, generator=g, device="cuda") + 0.4).to(dtype).transpose(1, 2)
    v0 = (0.2 * torch.randn(B, C, generator=g, device="cuda")).to(dtype)
    weights = [torch.randn(shape, generator=g, device="cuda").to(dtype).float() for shape in
               ((T, B, C), (B, C), (T, B, C))]  # fmt: skip
    tol = TOL[dtype]
    for theta in _thetas(dyn.kind):
        for store_v_seq in (False, True):
            (s, v, vs), grads = _run(cupy_backend.multi_step, dyn, x_seq, v0, theta, weights, store_v_seq)
            (s_ref, v_ref, vs_ref), grads_ref = _run(
                torch_backend.multi_step, dyn, x_seq.float(), v0.float(), theta, weights, store_v_seq
            )
            assert s.dtype == dtype and s.shape == x_seq.shape
            assert torch.equal(s.float(), s_ref), "spikes differ"
            torch.testing.assert_close(v.float(), v_ref, rtol=tol, atol=tol)
            if store_v_seq:
                torch.testing.assert_close(vs.float(), vs_ref, rtol=tol, atol=tol)
            for name, a, b in zip(("x", "v0", "theta"), grads, grads_ref):
                torch.testing.assert_close(a.float(), b, rtol=tol, atol=tol, msg=f"grad {name} ({theta=})")


@pytest.mark.parametrize("dtype", IO_TYPES, ids=str)
def test_large_odd_count_theta_reduction(dtype):
    """Many blocks of θ partial sums (the warp-shuffle + atomicAdd reduction) and a scalar initial state."""
    dyn = dynamics_variants()[-1]  # RIF
    x_seq = torch.randn(8, 3 * 65537, device="cuda").to(dtype)
    w = torch.tensor(-0.05, device="cuda", requires_grad=True)
    s, v, _ = cupy_backend.multi_step(dyn, x_seq, 0.0, w, False)
    (s.float().sum() + v.float().sum()).backward()
    w_ref = w.detach().clone().requires_grad_()
    s_ref, v_ref, _ = torch_backend.multi_step(dyn, x_seq.float(), torch.zeros(()), w_ref, False)
    (s_ref.sum() + v_ref.sum()).backward()
    assert torch.equal(s.float(), s_ref)
    torch.testing.assert_close(w.grad, w_ref.grad, rtol=1e-4, atol=1e-3)


def test_only_v_last_used_and_no_grad_inference():
    dyn = dynamics_variants()[30]
    x_seq = torch.randn(4, 1001, device="cuda", requires_grad=True)
    _, v, _ = cupy_backend.multi_step(dyn, x_seq, torch.zeros(1001, device="cuda"), 0.5, False)
    v.sum().backward()  # grad_s arrives as None
    x_ref = x_seq.detach().clone().requires_grad_()
    torch_backend.multi_step(dyn, x_ref, torch.zeros(1001, device="cuda"), 0.5, False)[1].sum().backward()
    torch.testing.assert_close(x_seq.grad, x_ref.grad, rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        s, _, _ = cupy_backend.multi_step(dyn, x_seq, torch.zeros(1001, device="cuda"), 0.5, False)
    assert not s.requires_grad


def test_auto_picks_cupy_on_cuda_and_modules_agree():
    x = torch.randn(6, 4, 33, device="cuda")
    assert resolve_backend("auto", x) is CUPY
    assert CUPY.multi_step is cupy_backend.multi_step
    for make in (lambda b: LIF(tau=3.0, step_mode="m", backend=b, store_v_seq=True),
                 lambda b: PLIF(v_reset=None, step_mode="m", backend=b, store_v_seq=True)):  # fmt: skip
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

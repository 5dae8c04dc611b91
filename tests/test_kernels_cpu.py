"""The fused ``cpu`` backend (Numba) against the torch backend, across the whole variant matrix.

Spikes must match exactly and ``v``, ``v_seq`` and the gradients of input, initial state and θ within 1e-5
(fp32).  Half-precision runs are compared with the torch backend in fp32 on the same (upcast) values: the
kernels do fp32 math on fp16/bf16 I/O.  Each kernel compiles once per machine (the variants of a family share
one), so the first run of this file on a machine spends most of its time compiling.
"""

import sys

import numpy as np
import pytest
import torch

pytest.importorskip("numba")

from snnlab.kernels import CPU, TORCH, cpu_backend, numba_import_error, resolve_backend, torch_backend
from snnlab.kernels.codegen import dynamics_variants
from snnlab.kernels.cpu_codegen import NumbaOps, PyExpr, backward_module, family, forward_module, straight_line
from snnlab.math.ops import TorchOps
from snnlab.neurons import LIF, PLIF

VARIANTS = sorted(dynamics_variants(), key=lambda d: repr(family(d)))  # a family's variants run back to back
TOL = {torch.float32: 1e-5, torch.float16: 1e-2, torch.bfloat16: 1e-2}


def _thetas(kind):
    """θ as the modules pass it: None (IF), a float 1/τ (LIF), a learnable 0-dim tensor (PLIF, RIF)."""
    if kind == "if":
        return [None]
    w = torch.tensor(0.4 if kind == "lif" else -0.05, requires_grad=True)
    return [0.5, w] if kind == "lif" else [w]


def _run(fn, dyn, x_seq, v0, theta, store_v_seq, seed=0):
    """Outputs and gradients (x, v0, θ) of a loss reading spikes, v_last and (if stored) v_seq."""
    x_seq = x_seq.detach().requires_grad_()
    v0 = v0.detach().requires_grad_() if isinstance(v0, torch.Tensor) else v0
    s_seq, v_last, v_seq = fn(dyn, x_seq, v0, theta, store_v_seq)
    g = torch.Generator().manual_seed(seed)
    loss = (s_seq.float() * torch.randn(s_seq.shape, generator=g)).sum()
    loss = loss + (v_last.float() * torch.randn(v_last.shape, generator=g)).sum()
    if store_v_seq:
        loss = loss + (v_seq.float() * torch.randn(v_seq.shape, generator=g)).sum()
    leaves = [x_seq] + [t for t in (v0, theta) if isinstance(t, torch.Tensor)]
    return (s_seq, v_last, v_seq), torch.autograd.grad(loss, leaves)


def _assert_matches(dyn, x_seq, v0, theta, store_v_seq, tol=1e-5):
    (s, v, vs), grads = _run(cpu_backend.multi_step, dyn, x_seq, v0, theta, store_v_seq)
    v0_ref = v0.float() if isinstance(v0, torch.Tensor) else v0
    (s_ref, v_ref, vs_ref), grads_ref = _run(torch_backend.multi_step, dyn, x_seq.float(), v0_ref, theta, store_v_seq)
    assert s.dtype == x_seq.dtype and s.shape == x_seq.shape and v.shape == x_seq.shape[1:]
    assert torch.equal(s.float(), s_ref), "spikes differ"
    torch.testing.assert_close(v.float(), v_ref, rtol=tol, atol=tol)
    if store_v_seq:
        torch.testing.assert_close(vs.float(), vs_ref, rtol=tol, atol=tol)
    else:
        assert vs is None
    assert len(grads) == len(grads_ref)
    for name, a, b in zip(("x", "v0", "theta"), grads, grads_ref):
        torch.testing.assert_close(a.float(), b, rtol=tol, atol=tol, msg=f"grad {name} ({theta=})")


@pytest.mark.parametrize("dyn", VARIANTS, ids=repr)
def test_cpu_matches_torch_backend(dyn):
    g = torch.Generator().manual_seed(0)
    T, B, C = 5, 37, 3  # odd sizes
    x_seq = (torch.randn(T, C, B, generator=g) + 0.4).transpose(1, 2)  # a non-contiguous view
    v0 = 0.2 * torch.randn(B, C, generator=g)
    for theta in _thetas(dyn.kind):
        for store_v_seq in (False, True):
            _assert_matches(dyn, x_seq, v0, theta, store_v_seq)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("dyn", [VARIANTS[0], VARIANTS[-1]], ids=repr)
def test_half_precision_computes_in_fp32(dyn, dtype):
    g = torch.Generator().manual_seed(1)
    x_seq = (torch.randn(4, 9, 5, generator=g) + 0.4).to(dtype)
    v0 = (0.2 * torch.randn(9, 5, generator=g)).to(dtype)
    for theta in _thetas(dyn.kind):
        _assert_matches(dyn, x_seq, v0, theta, True, TOL[dtype])


@pytest.mark.parametrize(("T", "N"), [(1, 1), (1, 513), (300, 7), (3, 1025), (4, 3 * 65537 + 5)])
def test_step_counts_sizes_and_thread_split(T, N):
    """One step, many steps, sizes around the 512-neuron block, and a size split over threads."""
    dyn = next(d for d in VARIANTS if d.kind == "rif" and d.v_reset is None)
    x_seq = torch.randn(T, N, generator=torch.Generator().manual_seed(T)) + 0.3
    _assert_matches(dyn, x_seq, torch.zeros(N), torch.tensor(-0.02, requires_grad=True), True)


def test_scalar_initial_state_and_result_independent_of_thread_count():
    dyn = next(d for d in VARIANTS if d.kind == "lif" and d.decay_input)
    x_seq = torch.rand(6, 2, 70000, generator=torch.Generator().manual_seed(2)) * 1.5
    _assert_matches(dyn, x_seq, 0.25, torch.tensor(0.3, requires_grad=True), False)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        (s1, v1, _), g1 = _run(cpu_backend.multi_step, dyn, x_seq, 0.25, torch.tensor(0.3, requires_grad=True), False)
        torch.set_num_threads(3)
        (s3, v3, _), g3 = _run(cpu_backend.multi_step, dyn, x_seq, 0.25, torch.tensor(0.3, requires_grad=True), False)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(s1, s3) and torch.equal(v1, v3)
    assert all(torch.equal(a, b) for a, b in zip(g1, g3))  # θ too: per-chunk sums, added in chunk order


def test_inference_needs_no_saved_state_and_equals_training_forward():
    dyn = VARIANTS[0]
    x_seq = torch.randn(4, 10) + 0.5
    with torch.no_grad():
        s, v, _ = cpu_backend.multi_step(dyn, x_seq.requires_grad_(), torch.zeros(10), None, False)
    assert not s.requires_grad
    s_train, v_train, _ = cpu_backend.multi_step(dyn, x_seq, torch.zeros(10), None, False)
    assert s_train.requires_grad and torch.equal(s, s_train) and torch.equal(v, v_train)


def test_variants_share_kernels():
    """Reset mode and detach_reset are runtime flags of one kernel; the forward serves every surrogate."""
    assert len({forward_module(d).name for d in VARIANTS}) == 4  # IF, LIF × decay_input, RIF
    assert len({backward_module(d).name for d in VARIANTS}) == 24  # ... × 6 surrogates


def test_kernels_are_cached_on_disk(monkeypatch, tmp_path):
    monkeypatch.setenv("SNNLAB_CACHE_DIR", str(tmp_path))
    assert cpu_backend.kernel_dir() == tmp_path / "cpu_kernels"
    cpu_backend.forward_kernel(VARIANTS[0])  # compiled (or cached) in the default folder earlier in this run
    module = forward_module(VARIANTS[0])
    assert (cpu_backend._writable_kernel_dir() / f"{module.name}.py").read_text() == module.source
    assert any(cpu_backend._writable_kernel_dir().glob(f"__pycache__/{module.name}.forward-*.nbi"))


def test_auto_picks_cpu_for_cpu_float_tensors_and_torch_otherwise():
    assert resolve_backend("auto", torch.zeros(2, 3)) is CPU
    assert resolve_backend("auto", torch.zeros(2, 3, dtype=torch.bfloat16)) is CPU
    assert resolve_backend("auto", torch.zeros(2, 3, dtype=torch.float64)) is TORCH
    assert CPU.multi_step is cpu_backend.multi_step
    with pytest.raises(RuntimeError, match=r"backend 'cpu' runs on float32, float16, bfloat16 tensors, got float64"):
        resolve_backend("cpu", torch.zeros(2, dtype=torch.float64))


def test_explicit_cpu_without_numba_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "numba", None)  # makes `import numba` fail
    numba_import_error.cache_clear()
    try:
        assert resolve_backend("auto", torch.zeros(2)) is TORCH
        with pytest.raises(
            RuntimeError, match=r"backend 'cpu' is unavailable: Numba does not import .*pip install numba"
        ):
            resolve_backend("cpu", torch.zeros(2))
    finally:
        numba_import_error.cache_clear()


def test_neurons_default_to_the_fused_path():
    lif = LIF(step_mode="m")
    assert lif.backend == "auto" and resolve_backend(lif.backend, torch.zeros(1)) is CPU
    x = torch.rand(8, 4, 16, generator=torch.Generator().manual_seed(3)).requires_grad_()
    ref = PLIF(step_mode="m", backend="torch")
    fused = PLIF(step_mode="m", backend="cpu")
    s_ref, s = ref(x), fused(x)
    assert torch.equal(s, s_ref)
    (g_ref,) = torch.autograd.grad((s_ref * x).sum(), ref.w)
    (g,) = torch.autograd.grad((s * x).sum(), fused.w)
    torch.testing.assert_close(g, g_ref, rtol=1e-5, atol=1e-6)


def test_numba_ops_mirror_torch_ops_and_constants_are_float32():
    names = {n for n in vars(TorchOps) if not n.startswith("_")}
    assert names == {n for n in vars(NumbaOps) if not n.startswith("_")}
    assert PyExpr.constant(0.1) == "f32(0.1)" and PyExpr.constant(-2) == "f32(-2.0)"
    assert (1.0 - PyExpr.symbol("h") * 0.5).code == "(f32(1.0) - (h * f32(0.5)))"
    with pytest.raises(ValueError, match="non-finite"):
        PyExpr.constant(float("nan"))


def test_straight_line_computes_each_operation_once():
    lines = straight_line({"a": "(_exp(-h) + f32(1.0))", "b": "((_exp(-h) + f32(1.0)) if soft else (h * h))"}, "_t")
    assert lines == [
        "_t0 = -h",
        "_t1 = _exp(_t0)",
        "_t2 = _t1 + f32(1.0)",
        "a = _t2",
        "_t3 = h * h",
        "_t4 = _t2 if soft else _t3",  # both arms computed first: a select, not a branch
        "b = _t4",
    ]


def test_vectorisable_exp_is_within_two_ulp():
    exp = cpu_backend._load(forward_module(VARIANTS[0]))._exp
    x = np.linspace(-87.0, 88.0, 2001, dtype=np.float32)
    got = np.array([exp(v) for v in x], dtype=np.float64)
    want = np.exp(x.astype(np.float64))
    assert np.max(np.abs(got - want) / want) < 2 * 2.0**-23
    assert exp(np.float32(-1000.0)) < 1e-37 and np.isfinite(exp(np.float32(1000.0)))

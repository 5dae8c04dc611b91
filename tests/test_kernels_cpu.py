"""The fused ``cpu`` backend (Numba) against the torch backend, across the whole variant matrix.

Spikes must match exactly and the last states, ``v_seq`` and the gradients of input, every initial state and
every parameter within 1e-5 (fp32).  Half-precision runs are compared with the torch backend in fp32 on the same
(upcast) values: the kernels do fp32 math on fp16/bf16 I/O.  Each kernel compiles once per machine (the variants
of a family share one), so the first run of this file on a machine spends most of its time compiling.
"""

import sys

import numpy as np
import pytest
import torch

pytest.importorskip("numba")

from snnlab.kernels import CPU, TORCH, cpu_backend, numba_import_error, resolve_backend, torch_backend
from snnlab.kernels.codegen import dynamics_variants
from snnlab.kernels.cpu_codegen import NumbaOps, PyExpr, backward_module, family, forward_module
from snnlab.kernels.render import straight_line
from snnlab.math.ops import TorchOps
from snnlab.math.symbolic import SYM_OPS, Sym
from snnlab.neurons import LIF, PLIF

VARIANTS = sorted(dynamics_variants(), key=lambda d: repr(family(d)))  # a family's variants run back to back
TOL = {torch.float32: 1e-5, torch.float16: 1e-2, torch.bfloat16: 1e-2}
PARAMS = {"decay": 0.4, "w": -0.05, "rho": 0.8, "beta": 0.3, "alpha": 0.6}
"""Test values of the declared parameters (others: 0.5)."""


def _param_sets(dyn, channels):
    """Parameters as the modules pass them: fixed floats (LIF), learnable 0-dim tensors (PLIF, RIF) and learnable
    ``[C]`` tensors per channel."""
    values = [PARAMS.get(q.name, 0.5) for q in dyn.params]
    learnable = [
        (torch.linspace(0.7, 1.3, channels) * v if q.per_channel else torch.tensor(v)).requires_grad_()
        for q, v in zip(dyn.params, values)
    ]
    fixed_ok = not any(q.per_channel for q in dyn.params)
    return [learnable] + ([values] if fixed_ok and values else [])


def _run(fn, dyn, x_seq, states, params, store_v_seq, weighted_dtype=None, seed=0):
    """Outputs and gradients (x, every initial state, every learnable parameter) of a loss reading spikes,
    every last state and (if stored) v_seq."""
    x_seq = x_seq.detach().requires_grad_()
    states = [s.detach().requires_grad_() if isinstance(s, torch.Tensor) else s for s in states]
    s_seq, last, v_seq = fn(dyn, x_seq, states, params, store_v_seq)
    g, dtype = torch.Generator().manual_seed(seed), weighted_dtype or x_seq.dtype

    def weighted(t: torch.Tensor) -> torch.Tensor:  # weights exact in the I/O dtype, as its gradients are
        return (t.float() * torch.randn(t.shape, generator=g).to(dtype).float()).sum()

    loss = weighted(s_seq) + sum(weighted(v) for v in last) + (weighted(v_seq) if store_v_seq else 0.0)
    leaves = [x_seq] + [t for t in (*states, *params) if isinstance(t, torch.Tensor) and t.requires_grad]
    return (s_seq, last, v_seq), torch.autograd.grad(loss, leaves, allow_unused=True)


def _assert_matches(dyn, x_seq, states, params, store_v_seq, tol=1e-5):
    (s, last, vs), grads = _run(cpu_backend.multi_step, dyn, x_seq, states, params, store_v_seq)
    states_ref = [v.float() if isinstance(v, torch.Tensor) else v for v in states]
    (s_ref, last_ref, vs_ref), grads_ref = _run(
        torch_backend.multi_step, dyn, x_seq.float(), states_ref, params, store_v_seq, x_seq.dtype
    )
    assert s.dtype == x_seq.dtype and s.shape == x_seq.shape and all(v.shape == x_seq.shape[1:] for v in last)
    assert torch.equal(s.float(), s_ref), "spikes differ"
    for k, (a, b) in enumerate(zip(last, last_ref)):
        torch.testing.assert_close(a.float(), b, rtol=tol, atol=tol, msg=f"state {k}")
    if store_v_seq:
        torch.testing.assert_close(vs.float(), vs_ref, rtol=tol, atol=tol)
    else:
        assert vs is None
    assert len(grads) == len(grads_ref)
    for k, (a, b) in enumerate(zip(grads, grads_ref)):
        b = torch.zeros_like(a) if b is None else b
        torch.testing.assert_close(a.float(), b, rtol=tol, atol=tol, msg=f"gradient {k}")


@pytest.mark.parametrize("dyn", VARIANTS, ids=repr)
def test_cpu_matches_torch_backend(dyn):
    g = torch.Generator().manual_seed(0)
    T, B, C = 5, 37, 3  # odd sizes
    x_seq = (torch.randn(T, C, B, generator=g) + 0.4).transpose(1, 2)  # a non-contiguous view
    states = [0.2 * torch.randn(B, C, generator=g) for _ in dyn.states]
    for params in _param_sets(dyn, C):
        for store_v_seq in (False, True):
            _assert_matches(dyn, x_seq, states, params, store_v_seq)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize(
    "dyn",
    [
        next(d for d in VARIANTS if not d.params),
        next(d for d in VARIANTS if len(d.states) > 1 and d.v_reset is None),
        next(d for d in VARIANTS if any(q.per_channel for q in d.params)),
    ],
    ids=repr,
)
def test_half_precision_computes_in_fp32(dyn, dtype):
    g = torch.Generator().manual_seed(1)
    x_seq = (torch.randn(4, 9, 5, generator=g) + 0.4).to(dtype)
    states = [(0.2 * torch.randn(9, 5, generator=g)).to(dtype) for _ in dyn.states]
    for params in _param_sets(dyn, 5):
        _assert_matches(dyn, x_seq, states, params, True, TOL[dtype])


RIF_SOFT = next(d for d in VARIANTS if type(d).__name__ == "RIFDynamics" and d.v_reset is None)
LIF_DECAY_INPUT = next(
    d for d in VARIANTS if type(d).__name__ == "LIFDynamics" and d.decay_input and not d.params[0].per_channel
)


@pytest.mark.parametrize(("T", "N"), [(1, 1), (1, 513), (300, 7), (3, 1025), (4, 3 * 65537 + 5)])
def test_step_counts_sizes_and_thread_split(T, N):
    """One step, many steps, sizes around the 512-neuron block, and a size split over threads."""
    x_seq = torch.randn(T, N, generator=torch.Generator().manual_seed(T)) + 0.3
    _assert_matches(RIF_SOFT, x_seq, [torch.zeros(N)], [torch.tensor(-0.02, requires_grad=True)], True)


def test_scalar_initial_state_and_result_independent_of_thread_count():
    dyn = LIF_DECAY_INPUT
    x_seq = torch.rand(6, 2, 70000, generator=torch.Generator().manual_seed(2)) * 1.5
    _assert_matches(dyn, x_seq, [0.25], [torch.tensor(0.3, requires_grad=True)], False)
    threads = torch.get_num_threads()
    try:
        runs = []
        for n in (1, 3):
            torch.set_num_threads(n)
            runs.append(
                _run(cpu_backend.multi_step, dyn, x_seq, [0.25], [torch.tensor(0.3, requires_grad=True)], False)
            )
    finally:
        torch.set_num_threads(threads)
    ((s1, v1, _), g1), ((s3, v3, _), g3) = runs
    assert torch.equal(s1, s3) and all(torch.equal(a, b) for a, b in zip(v1, v3))
    assert all(torch.equal(a, b) for a, b in zip(g1, g3))  # the parameter's too: per element, summed in fp64


def test_inference_needs_no_saved_state_and_equals_training_forward():
    dyn = VARIANTS[0]
    x_seq = torch.randn(4, 10) + 0.5
    states = [torch.zeros(10) for _ in dyn.states]
    params = [PARAMS.get(q.name, 0.5) if not q.per_channel else torch.full((10,), 0.5) for q in dyn.params]
    with torch.no_grad():
        s, last, _ = cpu_backend.multi_step(dyn, x_seq.requires_grad_(), states, params, False)
    assert not s.requires_grad
    s_train, last_train, _ = cpu_backend.multi_step(dyn, x_seq, states, params, False)
    assert s_train.requires_grad and torch.equal(s, s_train)
    assert all(torch.equal(a, b) for a, b in zip(last, last_train))


def test_variants_share_kernels():
    """Reset mode and detach_reset are runtime flags of one kernel; the forward serves every surrogate."""
    layouts = {(type(d), tuple(d.params), getattr(d, "decay_input", None)) for d in VARIANTS}
    assert len({forward_module(d).name for d in VARIANTS}) == len(layouts)
    surrogates = len({d.surrogate for d in VARIANTS})
    assert len({backward_module(d).name for d in VARIANTS}) == len(layouts) * surrogates


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
    with pytest.raises(ValueError, match=r"^backend='cpu': runs on float32, float16, bfloat16 tensors, not float64"):
        resolve_backend("cpu", torch.zeros(2, dtype=torch.float64))


def test_explicit_cpu_without_numba_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "numba", None)  # makes `import numba` fail
    numba_import_error.cache_clear()
    try:
        assert resolve_backend("auto", torch.zeros(2)) is TORCH
        with pytest.raises(
            ValueError, match=r"^backend='cpu': unavailable here: Numba does not import .*pip install numba"
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
    h, soft = Sym.var("h"), Sym.var("soft")
    shared = SYM_OPS.exp(-h) + 1.0
    code = straight_line({"a": shared, "b": SYM_OPS.select(soft, shared, h * h)}, PyExpr, NumbaOps())
    assert code.temps == [
        ("_t0", "(-h)"),
        ("_t1", "_exp(_t0)"),
        ("_t2", "(_t1 + f32(1.0))"),
        ("_t3", "(h * h)"),
        ("_t4", "(_t2 if soft else _t3)"),  # both arms computed first: a select, not a branch
    ]
    assert code.outputs == {"a": "_t2", "b": "_t4"} and code.reads == {"h", "soft"}


def test_vectorisable_exp_is_within_two_ulp():
    exp = cpu_backend._load(forward_module(VARIANTS[0]))._exp
    x = np.linspace(-87.0, 88.0, 2001, dtype=np.float32)
    got = np.array([exp(v) for v in x], dtype=np.float64)
    want = np.exp(x.astype(np.float64))
    assert np.max(np.abs(got - want) / want) < 2 * 2.0**-23
    assert exp(np.float32(-1000.0)) < 1e-37 and np.isfinite(exp(np.float32(1000.0)))

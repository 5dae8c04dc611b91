"""The CUDA code generator, on CPU: the rendered math computes what the declarations compute, every kernel
compiles, and the kernels themselves, built for the host and driven by the cupy backend's autograd
(:mod:`snnlab.kernels.cuda_autograd`, with a ctypes launcher), compute what the torch backend computes."""

import ctypes
import shutil
import subprocess
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from snnlab import registry
from snnlab.kernels import cuda_autograd, torch_backend
from snnlab.kernels.codegen import (
    CUDA_OPS,
    IO_TYPES,
    dynamics_variants,
    kernel_names,
    kernel_params,
    kernel_source,
    kernel_sources,
    render_math,
)
from snnlab.kernels.render import Expr, literal
from snnlab.math.dynamics import MEMBRANE
from snnlab.math.ops import TORCH_OPS, TorchOps
from snnlab.math.symbolic_step import symbolic_step

VARIANTS = dynamics_variants()
PARAMS = {"decay": 0.4, "w": -0.05, "rho": 0.8, "beta": 0.3, "alpha": 0.6}
"""Test values of the declared parameters (others: 0.5)."""


HALF_VARIANTS = [  # fp16/bf16: no parameter, several states, a per-channel parameter
    next(d for d in VARIANTS if not d.params),
    next(d for d in VARIANTS if len(d.states) > 1 and d.v_reset is None),
    next(d for d in VARIANTS if any(q.per_channel for q in d.params)),
]


def test_literals_are_exact_float32_constants():
    assert literal(0.5) == "0.5f"
    assert literal(2) == "2.0f"
    assert literal(-1.25) == "(-1.25f)"
    assert literal(1e-5) == "1e-05f"
    assert np.float32(literal(0.1)[:-1]) == np.float32(0.1)  # the shortest text that round-trips in fp32
    with pytest.raises(ValueError, match="non-finite"):
        literal(float("inf"))


def test_expressions_render_fully_parenthesised():
    a, b = Expr.symbol("a"), Expr.symbol("b")
    assert (1.0 - a * (b + 2.0) / -a).code == "(1.0f - ((a * (b + 2.0f)) / (-a)))"
    with pytest.raises(TypeError, match="cannot branch"):
        bool(a)


def test_cuda_ops_mirror_torch_ops():
    names = {n for n in vars(TorchOps) if not n.startswith("_")}
    assert names == {n for n in vars(type(CUDA_OPS)) if not n.startswith("_")}


def test_variant_matrix_covers_every_registered_neuron_and_names_are_distinct():
    declarations = {getattr(registry.get("neuron", n), "Dynamics", None) for n in registry.names("neuron")}
    assert {type(d) for d in VARIANTS} == declarations - {None}
    assert len(set(VARIANTS)) == len(VARIANTS)
    per_kind = len(registry.names("surrogate")) * 4  # × hard/soft × detach_reset
    assert len(VARIANTS) == per_kind * sum(len(cls.variants()) for cls in declarations - {None})
    names = {kernel_names(d, torch.float16) for d in VARIANTS}
    assert len(names) == len(VARIANTS)  # every variant has distinct math or parameter layout
    fwd, bwd = kernel_names(HALF_VARIANTS[2], torch.float16)
    assert fwd.endswith("_per_channel_decay_f16_fwd") and bwd.endswith("_per_channel_decay_f16_bwd")
    with pytest.raises(TypeError, match="float64"):
        kernel_source(VARIANTS[0], torch.float64)


def test_backward_reads_the_input_only_where_a_parameter_gradient_needs_it():
    reads_x = {type(d).__name__ for d in VARIANTS if symbolic_step(d).x_in_grads(params=True)}
    assert reads_x == {"LIFDynamics", "AdaptiveLIFDynamics", "CUBALIFDynamics"}
    assert not any(symbolic_step(d).x_in_grads(params=False) for d in VARIANTS)
    lif_without_decay_input = [d for d in VARIANTS if type(d).__name__ == "LIFDynamics" and not d.decay_input]
    assert lif_without_decay_input and not any(symbolic_step(d).x_in_grads(True) for d in lif_without_decay_input)


# -- the generated CUDA, built for the host -------------------------------------------------------------------
# multistep.cuh compiled by the host C++ compiler: a launch runs its threads one after another.  Stub
# cuda_fp16.h / cuda_bf16.h headers convert half types in software.
HOST_PRELUDE = r"""
#include <math.h>
#include <cstring>
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(n)
struct dim3 { long long x = 0; };
dim3 blockIdx, threadIdx;
namespace host {
constexpr int kBlock = 256;
template <class... P, class... A> void launch(void (*kernel)(P...), long long n, A... args) {
  for (long long b = 0; b * kBlock < n; ++b)
    for (int t = 0; t < kBlock; ++t) { blockIdx.x = b; threadIdx.x = t; kernel(args...); }
}
}  // namespace host
"""
HOST_HEADERS = {
    "cuda_fp16.h": "#pragma once\nstruct __half { _Float16 v; };\n"
    "inline float __half2float(__half h) { return (float)h.v; }\n"
    "inline __half __float2half_rn(float f) { return __half{(_Float16)f}; }\n",
    "cuda_bf16.h": "#pragma once\n#include <cstring>\nstruct __nv_bfloat16 { unsigned short bits; };\n"
    "inline float __bfloat162float(__nv_bfloat16 b) {\n"
    "  unsigned u = (unsigned)b.bits << 16; float f; std::memcpy(&f, &u, 4); return f; }\n"
    "inline __nv_bfloat16 __float2bfloat16_rn(float f) {\n"
    "  unsigned u; std::memcpy(&u, &f, 4); u += 0x7fffu + ((u >> 16) & 1u); return {(unsigned short)(u >> 16)}; }\n",
}
EVAL = r"""
extern "C" void eval_{M}(long n, const float* x, const float* st, const float* p, const float* c_in,
                         const float* gs, const float* g, float* o_s, float* o_st, float* o_c, float* o_restate,
                         float* o_gx, float* o_g, float* o_gp) {{
  constexpr int NS = {M}::NS, NP = {M}::NP, NP1 = NP > 0 ? NP : 1;
  for (long i = 0; i < n; ++i) {{
    float st_[NS], prev[NS], c_[NS], c_in_[NS], r_[NS], g_[NS], p_[NP1] = {{}}, gp_[NP1] = {{}}, gx;
    for (int k = 0; k < NS; ++k) {{
      st_[k] = prev[k] = st[k * n + i]; c_in_[k] = c_in[k * n + i]; g_[k] = g[k * n + i];
    }}
    for (int q = 0; q < NP; ++q) p_[q] = p[q * n + i];
    o_s[i] = {M}::step(x[i], st_, p_, c_);
    {M}::restate(c_in_, p_, r_);
    {M}::backward(x[i], prev, c_, p_, gs[i], g_, gx, gp_);
    o_gx[i] = gx;
    for (int k = 0; k < NS; ++k) {{
      o_st[k * n + i] = st_[k]; o_c[k * n + i] = c_[k]; o_restate[k * n + i] = r_[k]; o_g[k * n + i] = g_[k];
    }}
    for (int q = 0; q < NP; ++q) o_gp[q * n + i] = gp_[q];
  }}
}}
"""


def _launcher(name: str, params: list[tuple[str, str]], io_type: str) -> str:
    decl = ", ".join(f"{ctype.replace('IO', io_type)} {arg}" for ctype, arg in params)
    args = ", ".join(arg for _, arg in params)
    return f'extern "C" void launch_{name}({decl}) {{ host::launch({name}, N, {args}); }}\n'


@pytest.fixture(scope="module")
def host_kernels(tmp_path_factory):
    """Every fp32 kernel (and a few fp16/bf16 ones) built for the host into a ctypes library, with launchers
    ``launch_<kernel>`` and, per struct, ``eval_<struct>`` running its functions elementwise."""
    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        pytest.skip("no host C++ compiler")
    path = tmp_path_factory.mktemp("host_kernels")
    for name, text in HOST_HEADERS.items():
        (path / name).write_text(text)
    variants = [(d, torch.float32) for d in VARIANTS] + [
        (d, t) for d in HALF_VARIANTS for t in IO_TYPES if t != torch.float32
    ]
    src = HOST_PRELUDE + "".join(kernel_source(d, t) for d, t in variants)
    src += "static_assert(SNNLAB_BLOCK == host::kBlock);\n"
    for dyn, dtype in variants:
        for name, params in zip(kernel_names(dyn, dtype), kernel_params(dyn)):
            src += _launcher(name, params, IO_TYPES[dtype][0])
    src += "".join(EVAL.format(M=name) for name in dict.fromkeys(render_math(d).name for d in VARIANTS))
    (path / "kernels.cpp").write_text(src)
    cmd = [cxx, "-std=c++20", "-O1", "-ffp-contract=off", "-shared", "-fPIC", "-I.", "-o", "k.so", "kernels.cpp"]
    proc = subprocess.run(cmd, cwd=path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return ctypes.CDLL(str(path / "k.so"))


# -- rendered math == the declaration run by torch (the host build holds the generated structs) ---------------
def _ns(names, values):
    return SimpleNamespace(**dict(zip(names, values)))


@pytest.mark.parametrize("dyn", VARIANTS, ids=repr)
def test_rendered_math_evaluates_like_the_declaration(host_kernels, dyn):
    g = torch.Generator().manual_seed(0)
    n, ns, names, pnames = 4096, len(dyn.states), dyn.state_names, [q.name for q in dyn.params]
    x = torch.randn(n, generator=g) + 0.3
    st = 0.5 * torch.randn(ns, n, generator=g)
    p = torch.stack([PARAMS.get(q, 0.5) * (0.5 + torch.rand(n, generator=g)) for q in pnames]) if pnames else None
    c_in = dyn.v_threshold + 0.6 * torch.randn(ns, n, generator=g)
    c_in[:, :4] = 0.0
    c_in[names.index(MEMBRANE), :4] = dyn.v_threshold  # Θ(0) = 1 (our thresholds are v_th where states are 0)
    gs, grad = torch.randn(n, generator=g), torch.randn(ns, n, generator=g)
    out = {k: np.empty((ns, n) if k in ("st", "c", "restate", "g") else (max(len(pnames), 1), n), np.float32)
           for k in ("st", "c", "restate", "g", "gp")}  # fmt: skip
    out |= {"s": np.empty(n, np.float32), "gx": np.empty(n, np.float32)}
    inputs = [np.ascontiguousarray(a.numpy()) for a in (x, st, torch.zeros(1) if p is None else p, c_in, gs, grad)]
    ptrs = [a.ctypes.data_as(ctypes.c_void_p) for a in inputs + [out[k] for k in ("s", "st", "c", "restate")]]
    ptrs += [out[k].ctypes.data_as(ctypes.c_void_p) for k in ("gx", "g", "gp")]
    getattr(host_kernels, f"eval_{render_math(dyn).name}")(ctypes.c_long(n), *ptrs)
    got = {k: torch.from_numpy(v) for k, v in out.items()}

    # the forward formulas are bit-exact: same fp32 operations in the same order
    params = [] if p is None else list(p)
    pv = _ns(pnames, params)
    c = dyn.charge(x, _ns(names, st), pv)
    s = TORCH_OPS.heaviside(c[MEMBRANE] - dyn.threshold(_ns(names, [c[k] for k in names]), pv))
    new = dyn.reset(_ns(names, [c[k] for k in names]), s, pv)
    exact = {"s": s, "c": torch.stack([c[k] for k in names]), "st": torch.stack([new[k] for k in names])}
    c_in_ns = _ns(names, c_in)
    s_in = TORCH_OPS.heaviside(c_in_ns.v - dyn.threshold(c_in_ns, pv))
    assert s_in[:4].eq(1).all()
    restated = dyn.reset(c_in_ns, s_in, pv)
    exact["restate"] = torch.stack([torch.as_tensor(restated[k]).expand(n) for k in names])
    for key, want in exact.items():
        torch.testing.assert_close(got[key], want, rtol=0, atol=0, msg=key)

    # the backward step == autograd through one torch step
    leaves = [x.clone().requires_grad_(), *(v.clone().requires_grad_() for v in st)]
    leaves += [v.clone().requires_grad_() for v in params]
    spikes, states = dyn.step(leaves[0], leaves[1 : 1 + ns], leaves[1 + ns :])
    loss = (spikes * gs).sum() + sum((v * w).sum() for v, w in zip(states, grad))
    want = torch.autograd.grad(loss, leaves, allow_unused=True)
    got_grads = [got["gx"], *got["g"], *got["gp"][: len(params)]]
    for k, (a, b) in enumerate(zip(got_grads, want)):
        b = torch.zeros(n) if b is None else b
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=f"gradient {k}")


# -- the kernels, run on the host through the cupy backend's autograd, against the torch backend ----------------
def _host_launcher(lib):
    def launch(dyn, direction, values, like):
        backward = direction == "backward"
        args = []
        for ctype, name in kernel_params(dyn)[backward]:
            value = values.get(name)
            if "*" in ctype:
                args.append(ctypes.c_void_p(0 if value is None else value.data_ptr()))
            else:
                args.append(ctypes.c_float(value or 0.0) if ctype == "float" else ctypes.c_longlong(value))
        getattr(lib, f"launch_{kernel_names(dyn, like.dtype)[backward]}")(*args)

    return launch


def _params(dyn, channels, learnable):
    """Test values: floats, or learnable 0-dim tensors and ``[channels]`` tensors per channel."""
    values = []
    for q in dyn.params:
        value = PARAMS.get(q.name, 0.5)
        if q.per_channel:
            values.append(torch.linspace(0.7, 1.3, channels) * value)
        else:
            values.append(torch.tensor(value) if learnable else value)
    return [v.requires_grad_() if learnable else v for v in values]


def _check_host_kernels(lib, dyn, dtype, tol):
    g = torch.Generator().manual_seed(0)
    T, B, C = 5, 100, 3  # N = 300: two blocks, the second partial
    x = (torch.randn(T, B, C, generator=g) + 0.4).to(dtype)
    states = [(0.2 * torch.randn(B, C, generator=g)).to(dtype) for _ in dyn.states]
    w_s, w_seq = torch.randn(2, T, B, C, generator=g).to(dtype).float()
    w_last = torch.randn(len(dyn.states), B, C, generator=g).to(dtype).float()
    # learnable parameters with every output read, then fixed ones with v_seq off and no gradient of the states
    for learnable, store_v_seq in ((True, True), (False, False)):
        results = []
        for run, cast in ((lambda *a: cuda_autograd.multi_step(_host_launcher(lib), *a), dtype), (None, None)):
            run = run or torch_backend.multi_step
            leaves = [t.detach().to(cast or torch.float32).requires_grad_() for t in (x, *states)]
            params = _params(dyn, C, learnable)
            s, last, v_seq = run(dyn, leaves[0], leaves[1:], params, store_v_seq)
            loss = (s.float() * w_s).sum() + ((v_seq.float() * w_seq).sum() if store_v_seq else 0.0)
            loss = loss + (sum((v.float() * w).sum() for v, w in zip(last, w_last)) if learnable else 0.0)
            wrt = leaves + [p for p in params if isinstance(p, torch.Tensor) and p.requires_grad]
            grads = torch.autograd.grad(loss, wrt, allow_unused=True)
            results.append((s, last, v_seq, grads))
        (s, last, v_seq, grads), (s_ref, last_ref, v_seq_ref, grads_ref) = results
        assert s.dtype == dtype and torch.equal(s.float(), s_ref), "spikes differ"
        for k, (a, b) in enumerate(zip(last, last_ref)):
            torch.testing.assert_close(a.float(), b.detach(), rtol=tol, atol=tol, msg=f"state {k}")
        if store_v_seq:
            torch.testing.assert_close(v_seq.float(), v_seq_ref.detach(), rtol=tol, atol=tol)
        for k, (a, b) in enumerate(zip(grads, grads_ref)):
            b = torch.zeros_like(a) if b is None else b
            torch.testing.assert_close(a.float(), b, rtol=tol, atol=tol, msg=f"gradient {k} ({learnable=})")


@pytest.mark.parametrize("dyn", VARIANTS, ids=repr)
def test_host_built_kernels_match_torch_backend(host_kernels, dyn):
    _check_host_kernels(host_kernels, dyn, torch.float32, 1e-5)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("dyn", HALF_VARIANTS, ids=repr)
def test_host_built_half_kernels_compute_in_fp32(host_kernels, dyn, dtype):
    _check_host_kernels(host_kernels, dyn, dtype, 1e-2)


# -- every kernel source compiles ---------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not on PATH")
def test_every_kernel_source_compiles_with_nvcc(tmp_path):
    sources = list(kernel_sources().values())
    assert len(sources) == len(VARIANTS) * len(IO_TYPES)
    batches = [sources[i::2] for i in range(2)]  # one translation unit per core
    procs = []
    for i, batch in enumerate(batches):
        (tmp_path / f"batch{i}.cu").write_text("".join(batch))
        cmd = ["nvcc", "--ptx", "--std=c++17", "-arch=sm_90", "--fmad=false", "-o", "/dev/null", f"batch{i}.cu"]
        procs.append(subprocess.Popen(cmd, cwd=tmp_path, stderr=subprocess.PIPE, text=True))
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert "warning" not in err, err


def test_kernel_sources_compile_with_nvrtc():
    """The runtime compiler (NVRTC via CuPy's bindings, no GPU needed) with the backend's exact options."""
    cupy = pytest.importorskip("cupy")
    from cupy_backends.cuda.libs import nvrtc

    from snnlab.kernels.cupy_backend import NVRTC_OPTIONS

    one_per_layout = {(type(d), tuple(d.params)): d for d in VARIANTS}
    source = "".join(kernel_source(d, dt) for d in one_per_layout.values() for dt in IO_TYPES)
    options = [*NVRTC_OPTIONS, "-ftz=true", "--gpu-architecture=compute_90", f"-I{cupy.cuda.get_cuda_path()}/include"]
    prog = nvrtc.createProgram(source, "multistep.cu", [], [])
    try:
        nvrtc.compileProgram(prog, options)
    except nvrtc.NVRTCError:
        pytest.fail(nvrtc.getProgramLog(prog))
    finally:
        nvrtc.destroyProgram(prog)

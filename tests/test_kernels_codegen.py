"""The CUDA code generator, on CPU: rendered formulas evaluate like the torch ones, every kernel compiles, and
the kernels themselves, built for the host, compute what the torch backend computes."""

import ctypes
import shutil
import subprocess

import numpy as np
import pytest
import torch

from snnlab.kernels import torch_backend
from snnlab.kernels.codegen import (
    CUDA_OPS,
    IO_TYPES,
    Expr,
    dynamics_variants,
    kernel_names,
    kernel_source,
    kernel_sources,
    literal,
    render_math,
)
from snnlab.math.dynamics import NeuronDynamics
from snnlab.math.ops import TORCH_OPS, TorchOps

VARIANTS = dynamics_variants()
INPUTS = ("v", "x", "theta", "h", "s", "grad_s", "grad_v", "v_prev")
OUTPUTS = ("charge", "fire", "reset", "grad_x", "grad_v_prev", "grad_theta")


def test_literals_are_exact_float32_constants():
    assert literal(0.5) == "0.5f"
    assert literal(2) == "2.0f"
    assert literal(-1.25) == "(-1.25f)"
    assert literal(1e-5) == "1e-05f"
    assert np.float32(literal(0.1)[:-1]) == np.float32(0.1)  # the shortest text that round-trips in fp32
    with pytest.raises(ValueError, match="non-finite"):
        literal(float("inf"))


def test_expressions_render_fully_parenthesised_and_track_symbols():
    a, b = Expr.symbol("a"), Expr.symbol("b")
    e = 1.0 - a * (b + 2.0) / -a
    assert e.code == "(1.0f - ((a * (b + 2.0f)) / (-a)))"
    assert e.symbols == {"a", "b"}
    with pytest.raises(TypeError, match="cannot branch"):
        bool(a)


def test_cuda_ops_mirror_torch_ops():
    names = {n for n in vars(TorchOps) if not n.startswith("_")}
    assert names == {n for n in vars(type(CUDA_OPS)) if not n.startswith("_")}


def test_variant_matrix_and_kernel_names():
    assert len(VARIANTS) == 96 and len(set(VARIANTS)) == 96
    names = {render_math(d).name for d in VARIANTS}
    assert len(names) == len(VARIANTS)  # every variant has distinct math
    fwd, bwd, bwd_theta = kernel_names(VARIANTS[0], torch.float16)
    assert fwd.endswith("_f16_fwd") and bwd.endswith("_f16_bwd") and bwd_theta is None  # IF: no θ
    with pytest.raises(TypeError, match="float64"):
        kernel_source(VARIANTS[0], torch.float64)


def test_input_needed_by_backward_only_for_learnable_decay_input():
    for dyn in VARIANTS:
        neuron = render_math(dyn)
        assert not neuron.x_in_grads
        assert neuron.x_in_theta_grad == (dyn.kind == "lif" and dyn.decay_input)


# -- the generated CUDA, built for the host -------------------------------------------------------------------
# multistep.cuh compiled by the host C++ compiler: a launch runs its blocks one after another, each as
# SNNLAB_BLOCK std::threads, so the warp shuffles and __syncthreads of the θ reduction are real barriers.
# Stub cuda_fp16.h / cuda_bf16.h headers convert half types in software.
HOST_PRELUDE = r"""
#include <barrier>
#include <math.h>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(n)
#define __shared__ static
struct dim3 { long long x = 0; };
thread_local dim3 blockIdx, threadIdx;
namespace host {
constexpr int kBlock = 256;
std::unique_ptr<std::barrier<>> block_barrier, warp_barriers[kBlock / 32];
float lanes[kBlock];
std::mutex atomic_mutex;
template <class... P, class... A> void launch(void (*kernel)(P...), long long n, A... args) {
  for (long long b = 0; b * kBlock < n; ++b) {
    block_barrier = std::make_unique<std::barrier<>>(kBlock);
    for (auto& w : warp_barriers) w = std::make_unique<std::barrier<>>(32);
    std::vector<std::thread> threads;
    for (int t = 0; t < kBlock; ++t) threads.emplace_back([=] { blockIdx.x = b; threadIdx.x = t; kernel(args...); });
    for (auto& thread : threads) thread.join();
  }
}
}  // namespace host
inline void __syncthreads() { host::block_barrier->arrive_and_wait(); }
inline float __shfl_down_sync(unsigned, float v, int offset) {
  const int t = threadIdx.x;
  host::lanes[t] = v;
  host::warp_barriers[t / 32]->arrive_and_wait();
  const float out = (t % 32) + offset < 32 ? host::lanes[t + offset] : v;
  host::warp_barriers[t / 32]->arrive_and_wait();
  return out;
}
inline float atomicAdd(float* p, float v) {
  std::lock_guard<std::mutex> lock(host::atomic_mutex);
  const float old = *p;
  *p += v;
  return old;
}
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
FWD_PARAMS = (
    "const IO* x_seq, const IO* v_init, const float* theta_ptr, float theta_val, IO* s_seq, float* h_seq, "
    "IO* v_seq, IO* v_last, long long T, long long N"
)
BWD_PARAMS = (
    "const IO* grad_s_seq, const IO* grad_v_seq, const IO* grad_v_last, const float* h_seq, const IO* x_seq, "
    "const IO* v_init, const float* theta_ptr, float theta_val, IO* grad_x_seq, IO* grad_v_init, "
    "float* grad_theta, long long T, long long N"
)
HALF_VARIANTS = [VARIANTS[0], VARIANTS[-1]]  # IF and RIF in fp16/bf16


def _launcher(name: str, params: str, io_type: str) -> str:
    params = params.replace("IO", io_type)
    args = ", ".join(p.split()[-1] for p in params.split(", "))
    return f'extern "C" void launch_{name}({params}) {{ host::launch({name}, N, {args}); }}\n'


@pytest.fixture(scope="module")
def host_kernels(tmp_path_factory):
    """Every fp32 kernel (and a few fp16/bf16 ones) built for the host into a ctypes library, with launchers
    ``launch_<kernel>`` and, per variant, ``eval_<struct>`` evaluating the struct's functions elementwise."""
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
        io_type = IO_TYPES[dtype][0]
        fwd, bwd, bwd_theta = kernel_names(dyn, dtype)
        src += _launcher(fwd, FWD_PARAMS, io_type) + _launcher(bwd, BWD_PARAMS, io_type)
        src += _launcher(bwd_theta, BWD_PARAMS, io_type) if bwd_theta else ""
    ins = ", ".join(f"const float* {n}" for n in INPUTS)
    outs = ", ".join(f"float* o_{n}" for n in OUTPUTS)
    for name in dict.fromkeys(render_math(d).name for d in VARIANTS):
        src += (
            f'extern "C" void eval_{name}(long n, {ins}, {outs}) {{\n'
            f"  for (long i = 0; i < n; ++i) {{\n"
            f"    o_charge[i] = {name}::charge(v[i], x[i], theta[i]);\n"
            f"    o_fire[i] = {name}::fire(h[i]);\n"
            f"    o_reset[i] = {name}::reset(h[i], s[i]);\n"
            f"    {name}::backward(grad_s[i], grad_v[i], h[i], v_prev[i], x[i], theta[i], o_grad_x[i],\n"
            f"                     o_grad_v_prev[i], o_grad_theta[i]);\n"
            f"  }}\n}}\n"
        )
    (path / "kernels.cpp").write_text(src)
    cmd = [
        cxx,
        "-std=c++20",
        "-O1",
        "-ffp-contract=off",
        "-pthread",
        "-shared",
        "-fPIC",
        "-I.",
        "-o",
        "k.so",
        "kernels.cpp",
    ]
    proc = subprocess.run(cmd, cwd=path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return ctypes.CDLL(str(path / "k.so"))


# -- rendered math == torch math (the host build holds the generated structs) -------------------------------
def _evaluate(lib, dyn: NeuronDynamics, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    n = next(iter(inputs.values())).numel()
    arrays = [np.ascontiguousarray(inputs[k].numpy()) for k in INPUTS]
    outs = {k: np.empty(n, np.float32) for k in OUTPUTS}
    ptrs = [a.ctypes.data_as(ctypes.c_void_p) for a in (*arrays, *outs.values())]
    getattr(lib, f"eval_{render_math(dyn).name}")(ctypes.c_long(n), *ptrs)
    return {k: torch.from_numpy(v) for k, v in outs.items()}


@pytest.mark.parametrize("dyn", VARIANTS, ids=repr)
def test_rendered_math_evaluates_like_torch(host_kernels, dyn):
    g = torch.Generator().manual_seed(0)
    n = 4096
    r = {k: torch.randn(n, generator=g) for k in INPUTS}
    r["h"] = dyn.v_threshold + 0.6 * r["h"]
    r["h"][:4] = dyn.v_threshold  # Θ(0) = 1
    r["s"] = (r["s"] > 0).float()
    r["theta"] = torch.rand(n, generator=g) if dyn.kind == "lif" else 0.1 * r["theta"]
    theta = None if dyn.kind == "if" else r["theta"]
    got = _evaluate(host_kernels, dyn, r)

    # the forward formulas are bit-exact: same fp32 operations in the same order
    torch.testing.assert_close(got["charge"], dyn.charge(r["v"], r["x"], theta), rtol=0, atol=0)
    torch.testing.assert_close(got["fire"], TORCH_OPS.heaviside(r["h"] - dyn.v_threshold), rtol=0, atol=0)
    torch.testing.assert_close(got["reset"], dyn.reset(r["h"], r["s"]), rtol=0, atol=0)
    grads = dyn.backward_step(r["grad_s"], r["grad_v"], r["h"], r["v_prev"], r["x"], theta)
    for name, want in zip(("grad_x", "grad_v_prev", "grad_theta"), grads):
        want = torch.zeros(n) if want is None else torch.as_tensor(want).expand(n)
        torch.testing.assert_close(got[name], want, rtol=1e-5, atol=1e-6, msg=name)


# -- the kernels, run on the host, against the torch backend ---------------------------------------------------
def _ptr(t: torch.Tensor | None) -> ctypes.c_void_p:
    return ctypes.c_void_p(0 if t is None else t.data_ptr())


def _host_multi_step(lib, dyn, x, v0, theta, learnable, store_v_seq, grads):
    """Forward and backward launches with the arguments the cupy backend passes (null where it passes null)."""
    fwd, bwd, bwd_theta = kernel_names(dyn, x.dtype)
    T, N = x.shape
    s, v_seq, v_last = torch.empty_like(x), torch.empty_like(x) if store_v_seq else None, torch.empty_like(v0)
    h = torch.empty(T, N)
    theta_t = torch.tensor([theta]) if learnable else None
    theta_val = ctypes.c_float(theta if theta is not None and not learnable else 0.0)
    sizes = ctypes.c_longlong(T), ctypes.c_longlong(N)
    args = (_ptr(x), _ptr(v0), _ptr(theta_t), theta_val, _ptr(s), _ptr(h), _ptr(v_seq), _ptr(v_last), *sizes)
    getattr(lib, f"launch_{fwd}")(*args)
    neuron = render_math(dyn)
    x_saved = x if neuron.x_in_grads or (learnable and neuron.x_in_theta_grad) else None
    grad_x, grad_v, grad_theta = torch.empty_like(x), torch.empty_like(v0), torch.zeros(1)
    grad_s, grad_v_seq, grad_v_last = grads
    getattr(lib, f"launch_{bwd_theta if learnable else bwd}")(
        _ptr(grad_s), _ptr(grad_v_seq), _ptr(grad_v_last), _ptr(h), _ptr(x_saved), _ptr(v0), _ptr(theta_t),
        theta_val, _ptr(grad_x), _ptr(grad_v), _ptr(grad_theta), *sizes,
    )  # fmt: skip
    return (s, v_last, v_seq), (grad_x, grad_v, grad_theta[0]) if learnable else (grad_x, grad_v)


def _check_host_kernels(lib, dyn, dtype, tol):
    g = torch.Generator().manual_seed(0)
    T, N = 5, 300  # two blocks, the second partial
    x = (torch.randn(T, N, generator=g) + 0.4).to(dtype)
    v0 = (0.2 * torch.randn(N, generator=g)).to(dtype)
    w_s, w_seq = torch.randn(2, T, N, generator=g).to(dtype)
    w_last = torch.randn(N, generator=g).to(dtype)
    theta = {"if": None, "lif": 0.4, "rif": -0.05}[dyn.kind]
    # learnable θ with every output read, then a constant θ with v_seq off and no gradient for v_last
    for learnable, store_v_seq in ((theta is not None, True), (False, False)):
        grads = (w_s, w_seq if store_v_seq else None, w_last if learnable else None)
        outs, got = _host_multi_step(lib, dyn, x, v0, theta, learnable, store_v_seq, grads)

        leaves = [x.float().requires_grad_(), v0.float().requires_grad_()]
        theta_ref = torch.tensor(theta, requires_grad=True) if learnable else theta
        leaves += [theta_ref] if learnable else []
        refs = torch_backend.multi_step(dyn, leaves[0], leaves[1], theta_ref, store_v_seq)
        pairs = zip((refs[0], refs[2], refs[1]), grads)  # (s, v_seq, v_last) in the order of grads
        loss = sum((o * w.float()).sum() for o, w in pairs if w is not None)
        want = torch.autograd.grad(loss, leaves)

        assert torch.equal(outs[0].float(), refs[0]), "spikes differ"
        for name, a, b in [("v_last", outs[1], refs[1]), ("v_seq", outs[2], refs[2])][: 1 + store_v_seq]:
            torch.testing.assert_close(a.float(), b.detach(), rtol=tol, atol=tol, msg=name)
        for name, a, b in zip(("x", "v0", "theta"), got, want):
            torch.testing.assert_close(a.float(), b, rtol=tol, atol=tol, msg=f"grad {name} ({learnable=})")


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

    kinds = {d.kind: d for d in VARIANTS if d.decay_input}  # one variant per kind
    source = "".join(kernel_source(d, dt) for d in kinds.values() for dt in IO_TYPES)
    options = [*NVRTC_OPTIONS, "-ftz=true", "--gpu-architecture=compute_90", f"-I{cupy.cuda.get_cuda_path()}/include"]
    prog = nvrtc.createProgram(source, "multistep.cu", [], [])
    try:
        nvrtc.compileProgram(prog, options)
    except nvrtc.NVRTCError:
        pytest.fail(nvrtc.getProgramLog(prog))
    finally:
        nvrtc.destroyProgram(prog)

"""The CUDA code generator, on CPU: rendered formulas evaluate like the torch ones, and every kernel compiles."""

import ctypes
import shutil
import subprocess

import numpy as np
import pytest
import torch

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


# -- rendered math == torch math (host build of the generated structs) ---------------------------------------
@pytest.fixture(scope="module")
def host_math(tmp_path_factory):
    """The generated structs compiled for the host (``__device__`` defined away) into a ctypes library."""
    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        pytest.skip("no host C++ compiler")
    structs = {render_math(d).name: render_math(d).source for d in VARIANTS}
    ins = ", ".join(f"const float* {n}" for n in INPUTS)
    outs = ", ".join(f"float* o_{n}" for n in OUTPUTS)
    wrappers = [
        f'extern "C" void eval_{name}(long n, {ins}, {outs}) {{\n'
        f"  for (long i = 0; i < n; ++i) {{\n"
        f"    o_charge[i] = {name}::charge(v[i], x[i], theta[i]);\n"
        f"    o_fire[i] = {name}::fire(h[i]);\n"
        f"    o_reset[i] = {name}::reset(h[i], s[i]);\n"
        f"    {name}::backward(grad_s[i], grad_v[i], h[i], v_prev[i], x[i], theta[i], o_grad_x[i],\n"
        f"                     o_grad_v_prev[i], o_grad_theta[i]);\n"
        f"  }}\n}}\n"
        for name in structs
    ]
    src = "#include <math.h>\n#define __device__\n#define __forceinline__ inline\n"
    src += "".join(structs.values()) + "".join(wrappers)
    path = tmp_path_factory.mktemp("host_math")
    (path / "math.cpp").write_text(src)
    cmd = [cxx, "-std=c++17", "-O1", "-ffp-contract=off", "-shared", "-fPIC", "-o", "math.so", "math.cpp"]
    proc = subprocess.run(cmd, cwd=path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return ctypes.CDLL(str(path / "math.so"))


def _evaluate(lib, dyn: NeuronDynamics, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    n = next(iter(inputs.values())).numel()
    arrays = [np.ascontiguousarray(inputs[k].numpy()) for k in INPUTS]
    outs = {k: np.empty(n, np.float32) for k in OUTPUTS}
    ptrs = [a.ctypes.data_as(ctypes.c_void_p) for a in (*arrays, *outs.values())]
    getattr(lib, f"eval_{render_math(dyn).name}")(ctypes.c_long(n), *ptrs)
    return {k: torch.from_numpy(v) for k, v in outs.items()}


@pytest.mark.parametrize("dyn", VARIANTS, ids=repr)
def test_rendered_math_evaluates_like_torch(host_math, dyn):
    g = torch.Generator().manual_seed(0)
    n = 4096
    r = {k: torch.randn(n, generator=g) for k in INPUTS}
    r["h"] = dyn.v_threshold + 0.6 * r["h"]
    r["h"][:4] = dyn.v_threshold  # Θ(0) = 1
    r["s"] = (r["s"] > 0).float()
    r["theta"] = torch.rand(n, generator=g) if dyn.kind == "lif" else 0.1 * r["theta"]
    theta = None if dyn.kind == "if" else r["theta"]
    got = _evaluate(host_math, dyn, r)

    # the forward formulas are bit-exact: same fp32 operations in the same order
    torch.testing.assert_close(got["charge"], dyn.charge(r["v"], r["x"], theta), rtol=0, atol=0)
    torch.testing.assert_close(got["fire"], TORCH_OPS.heaviside(r["h"] - dyn.v_threshold), rtol=0, atol=0)
    torch.testing.assert_close(got["reset"], dyn.reset(r["h"], r["s"]), rtol=0, atol=0)
    grads = dyn.backward_step(r["grad_s"], r["grad_v"], r["h"], r["v_prev"], r["x"], theta)
    for name, want in zip(("grad_x", "grad_v_prev", "grad_theta"), grads):
        want = torch.zeros(n) if want is None else torch.as_tensor(want).expand(n)
        torch.testing.assert_close(got[name], want, rtol=1e-5, atol=1e-6, msg=name)


# -- every kernel source compiles ---------------------------------------------------------------------------
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

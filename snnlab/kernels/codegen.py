"""CUDA source generation for the fused multi-step neuron kernels.

The neuron math is not written in CUDA: the trees of a declaration's step and of its backward pass
(:func:`snnlab.math.symbolic_step.symbolic_step`) are rendered with :data:`CUDA_OPS` into a per-declaration
``struct`` of device functions (:func:`render_math`), and the kernels' entry points, whose arguments follow
the declared states and parameters (:func:`kernel_params`), are generated around the generic loops of
``multistep.cuh``.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import torch

from snnlab import registry
from snnlab.kernels.render import Expr, straight_line
from snnlab.math.dynamics import NeuronDynamics
from snnlab.math.symbolic import Sym
from snnlab.math.symbolic_step import charged_symbol, grad_symbol, param_symbol, state_symbol, symbolic_step

TEMPLATE = Path(__file__).with_name("multistep.cuh")
IO_TYPES: dict[torch.dtype, tuple[str, str]] = {
    torch.float32: ("float", "f32"),
    torch.float16: ("__half", "f16"),
    torch.bfloat16: ("__nv_bfloat16", "bf16"),
}
"""Supported I/O dtypes: their CUDA type and the suffix of their kernel names."""


class CudaOps:
    """``ops`` namespace rendering the :class:`snnlab.math.ops.TorchOps` primitives as CUDA ``float`` code."""

    @staticmethod
    def exp(x: Expr) -> Expr:
        return Expr.call("expf", x)

    @staticmethod
    def abs(x: Expr) -> Expr:
        return Expr.call("fabsf", x)

    @staticmethod
    def relu(x: Expr) -> Expr:
        return Expr.call("fmaxf", x, 0.0)

    @staticmethod
    def sigmoid(x: Expr) -> Expr:
        return 1.0 / (1.0 + CudaOps.exp(-Expr.lift(x)))

    @staticmethod
    def heaviside(x: Expr) -> Expr:
        return Expr(f"({Expr.lift(x).code} >= 0.0f ? 1.0f : 0.0f)")

    @staticmethod
    def select(flag: Expr, if_true: Expr, if_false: Expr) -> Expr:
        return Expr(f"({flag.code} ? {Expr.lift(if_true).code} : {Expr.lift(if_false).code})")


CUDA_OPS = CudaOps()


@dataclass(frozen=True)
class NeuronMath:
    """The neuron math of one declaration as a CUDA ``struct`` of static device functions."""

    name: str
    source: str


def _function(signature: str, targets: dict[str, Sym], arrays: dict[str, str]) -> str:
    """A device function computing ``targets`` (keys: C lvalues) from the variables of ``arrays`` (symbol → the
    array element holding it, loaded first) and the function's parameters."""
    code = straight_line(targets, Expr, CUDA_OPS)
    lines = [f"const float {name} = {element};" for name, element in arrays.items() if name in code.reads]
    lines += [f"const float {name} = {value};" for name, value in code.temps]
    lines += [f"{target} = {value};" for target, value in code.outputs.items() if target != "return"]
    lines += [f"return {code.outputs['return']};"] if "return" in code.outputs else []
    body = "".join(f"    {line}\n" for line in lines)
    return f"  static __device__ __forceinline__ {signature} {{\n{body}  }}\n"


@cache
def render_math(dyn: NeuronDynamics) -> NeuronMath:
    """Render ``dyn`` into a struct with ``step``, ``restate`` and ``backward`` (see ``multistep.cuh``).

    The struct's name is a digest of its body, so declarations with the same math share one compiled kernel.
    """
    step = symbolic_step(dyn)
    states, params = step.states, [q.name for q in step.params]
    st = {state_symbol(k): f"st[{j}]" for j, k in enumerate(states)}
    c = {charged_symbol(k): f"c[{j}]" for j, k in enumerate(states)}
    p = {param_symbol(q): f"p[{j}]" for j, q in enumerate(params)}
    g = {grad_symbol(k): f"g[{j}]" for j, k in enumerate(states)}
    forward = step.forward()
    step_targets = {
        **{c[charged_symbol(k)]: step.charge[charged_symbol(k)] for k in states},
        **{st[state_symbol(k)]: forward[k] for k in states},
        "return": forward["s"],
    }
    backward_targets = {
        "g_x": step.grads["x"],
        **{g[grad_symbol(k)]: step.grads[state_symbol(k)] for k in states},
        **{f"g_p[{j}]": step.grads[param_symbol(q)] for j, q in enumerate(params)},
    }
    body = (
        f"  static constexpr int NS = {len(states)}, NP = {len(params)}, V = {step.membrane};\n"
        + _function("float step(float x, float* st, const float* p, float* c)", step_targets, {**st, **p})
        + _function(
            "void restate(const float* c, const float* p, float* st)",
            {st[state_symbol(k)]: step.reset[k] for k in states},
            {**c, **p},
        )
        + _function(
            "void backward(float x, const float* st, const float* c, const float* p, float gs, float* g, "
            "float& g_x, float* g_p)",
            backward_targets,
            {**st, **c, **p, **g},
        )
    )
    name = f"snn_{type(dyn).__name__}_{hashlib.sha1(body.encode()).hexdigest()[:12]}"
    return NeuronMath(name, f"struct {name} {{  // {dyn!r}\n{body}}};\n")


def kernel_params(dyn: NeuronDynamics) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The ``(C type, name)`` parameters of the forward and the backward kernel (``IO``: the I/O type).

    Per state ``k``: ``init_k``, ``last_k``, ``grad_last_k``, ``grad_init_k``; per parameter ``q``: ``ptr_q``
    and ``val_q`` (a scalar is ``*ptr_q`` when ``ptr_q`` is given, else ``val_q``; a per-channel parameter is
    ``ptr_q[i]``, broadcast to every neuron element) and ``grad_q`` (``dL/dq`` per neuron element, or null).
    """
    states, params = dyn.state_names, [q.name for q in dyn.params]
    values = [arg for q in params for arg in (("const float*", f"ptr_{q}"), ("float", f"val_{q}"))]
    sizes = [("long long", "T"), ("long long", "N")]
    forward = [
        ("const IO*", "x_seq"),
        *[("const IO*", f"init_{k}") for k in states],
        *values,
        *[("IO*", "s_seq"), ("float*", "c_seq"), ("IO*", "v_seq")],
        *[("IO*", f"last_{k}") for k in states],
        *sizes,
    ]
    backward = [
        *[("const IO*", "grad_s_seq"), ("const IO*", "grad_v_seq")],
        *[("const IO*", f"grad_last_{k}") for k in states],
        *[("const float*", "c_seq"), ("const IO*", "x_seq")],
        *[("const IO*", f"init_{k}") for k in states],
        *values,
        ("IO*", "grad_x_seq"),
        *[("IO*", f"grad_init_{k}") for k in states],
        *[("float*", f"grad_{q}") for q in params],
        *sizes,
    ]
    return forward, backward


def kernel_names(dyn: NeuronDynamics, dtype: torch.dtype) -> tuple[str, str]:
    """Names of the ``(forward, backward)`` kernels (the math, the per-channel parameters, the I/O type)."""
    per_channel = "".join(f"_per_channel_{q.name}" for q in dyn.params if q.per_channel)
    prefix = f"{render_math(dyn).name}{per_channel}_{_io_type(dtype)[1]}"
    return f"{prefix}_fwd", f"{prefix}_bwd"


def kernel_source(dyn: NeuronDynamics, dtype: torch.dtype) -> str:
    """The complete CUDA translation unit for one ``(dynamics, dtype)`` variant.

    Sources are include-guarded, so any number of them concatenated is again one valid translation unit.
    """
    neuron = render_math(dyn)
    io_type = _io_type(dtype)[0]
    fwd, bwd = kernel_names(dyn, dtype)
    fwd_params, bwd_params = kernel_params(dyn)
    states = dyn.state_names

    def arrays(ctype: str, name: str, element: str) -> str:
        elements = ", ".join(element.format(k) for k in states)
        return f"  {ctype.replace('IO', io_type)} {name}[] = {{{elements}}};\n"

    values = [f"ptr_{q.name}[i]" if q.per_channel else f"ptr_{q.name} != nullptr ? *ptr_{q.name} : val_{q.name}"
              for q in dyn.params]  # fmt: skip
    head = (
        "  const long long i = static_cast<long long>(blockIdx.x) * SNNLAB_BLOCK + threadIdx.x;\n"
        "  if (i >= N) return;\n"
        f"  const float p[{max(len(values), 1)}] = {{{', '.join(values) or '0.0f'}}};\n"
        + arrays("const IO*", "init", "init_{}")
    )
    grad_p = ", ".join(f"grad_{q.name}" for q in dyn.params) or "nullptr"
    kernels = _entry(
        fwd,
        fwd_params,
        io_type,
        head
        + arrays("IO*", "last", "last_{}")
        + f"  snnlab::forward<{neuron.name}>(i, x_seq, init, p, s_seq, c_seq, v_seq, last, T, N);\n",
    ) + _entry(
        bwd,
        bwd_params,
        io_type,
        head
        + arrays("const IO*", "grad_last", "grad_last_{}")
        + arrays("IO*", "grad_init", "grad_init_{}")
        + f"  float* grad_p[{max(len(values), 1)}] = {{{grad_p}}};\n"
        + f"  snnlab::backward<{neuron.name}>(i, grad_s_seq, grad_v_seq, grad_last, c_seq, x_seq, init, p, "
        "grad_x_seq, grad_init, grad_p, T, N);\n",
    )
    return _template() + _guarded(f"SNNLAB_MATH_{neuron.name}", neuron.source) + _guarded(f"SNNLAB_{fwd}", kernels)


def _guarded(name: str, code: str) -> str:
    return f"\n#ifndef {name.upper()}\n#define {name.upper()}\n{code}#endif\n"


def _entry(name: str, params: list[tuple[str, str]], io_type: str, body: str) -> str:
    args = ", ".join(f"{ctype.replace('IO', io_type)} {arg}" for ctype, arg in params)
    return f'extern "C" __global__ void __launch_bounds__(SNNLAB_BLOCK) {name}({args}) {{\n{body}}}\n'


def dynamics_variants() -> list[NeuronDynamics]:
    """Every registered neuron's declaration (each of its own :meth:`~NeuronDynamics.variants`) × hard/soft
    reset × ``detach_reset`` × surrogate."""
    declarations = dict.fromkeys(getattr(registry.get("neuron", n), "Dynamics", None) for n in registry.names("neuron"))
    return [
        replace(base, v_reset=v_reset, detach_reset=detach, surrogate=registry.build("surrogate", name))
        for cls in declarations
        if cls is not None
        for base in cls.variants()
        for v_reset, detach, name in itertools.product((0.0, None), (False, True), registry.names("surrogate"))
    ]


def kernel_sources() -> dict[tuple[NeuronDynamics, torch.dtype], str]:
    """The full source of every ``(dynamics, dtype)`` variant (for compile checks)."""
    return {(dyn, dt): kernel_source(dyn, dt) for dyn in dynamics_variants() for dt in IO_TYPES}


@cache
def _template() -> str:
    return TEMPLATE.read_text()


def _io_type(dtype: torch.dtype) -> tuple[str, str]:
    if dtype not in IO_TYPES:
        names = ", ".join(str(d).removeprefix("torch.") for d in IO_TYPES)
        raise TypeError(f"the cupy backend supports {names} inputs, got {dtype}; use backend='torch'")
    return IO_TYPES[dtype]

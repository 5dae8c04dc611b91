"""CUDA source generation for the fused multi-step neuron kernels.

The neuron math is not written in CUDA: :class:`Expr` is a tiny symbolic float type whose arithmetic builds
C expression strings, and :data:`CUDA_OPS` is an ``ops`` namespace with the names of
:class:`snnlab.math.ops.TorchOps`.  Evaluating :meth:`NeuronDynamics.charge`, :meth:`~NeuronDynamics.reset`,
:meth:`~NeuronDynamics.backward_step` and the surrogate's ``grad`` on symbols renders the very formulas the
torch backend runs into a per-variant ``struct`` of device functions (:func:`render_math`).  The loop over
time, the I/O and the θ reduction are generic, hand-written once in ``multistep.cuh``.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import torch

from snnlab import registry
from snnlab.math.dynamics import KINDS, NeuronDynamics

TEMPLATE = Path(__file__).with_name("multistep.cuh")
IO_TYPES: dict[torch.dtype, tuple[str, str]] = {
    torch.float32: ("float", "f32"),
    torch.float16: ("__half", "f16"),
    torch.bfloat16: ("__nv_bfloat16", "bf16"),
}
"""Supported I/O dtypes: their CUDA type and the suffix of their kernel names."""


def float32_text(value: float) -> str:
    """The shortest decimal text of ``float32(value)`` (the value torch uses for a scalar operand)."""
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"cannot render the non-finite constant {value} into kernel source")
    return str(np.float32(value))


def literal(value: float) -> str:
    """A C ``float`` literal holding exactly ``float32(value)``."""
    text = float32_text(value)
    if not any(c in text for c in ".e"):
        text += ".0"
    return f"({text}f)" if text.startswith("-") else f"{text}f"


class Expr:
    """A symbolic ``float`` expression: arithmetic builds fully parenthesised code.

    ``symbols`` holds the free variables, so callers know which inputs an expression reads.  Truth testing
    raises, so a formula that branches on a value (which cannot be rendered) fails loudly.  The operators are
    spelled alike in C and Python; a subclass for another language overrides :meth:`constant` (here: a C
    ``float`` literal).
    """

    __slots__ = ("code", "symbols")

    def __init__(self, code: str, symbols: frozenset[str] = frozenset()) -> None:
        self.code = code
        self.symbols = symbols

    @staticmethod
    def constant(value: float) -> str:
        """The code of the fp32 constant ``value``."""
        return literal(value)

    @classmethod
    def symbol(cls, name: str) -> Expr:
        return cls(name, frozenset((name,)))

    @classmethod
    def lift(cls, value: Expr | float) -> Expr:
        if isinstance(value, cls):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return cls(cls.constant(value))
        raise TypeError(f"cannot use {type(value).__name__} {value!r} in a {cls.__name__}")

    @classmethod
    def call(cls, fn: str, *args: Expr | float) -> Expr:
        """The call ``fn(*args)``."""
        exprs = [cls.lift(a) for a in args]
        return cls(f"{fn}({', '.join(e.code for e in exprs)})", frozenset().union(*(e.symbols for e in exprs)))

    def _binary(self, op: str, other: Expr | float, reflected: bool = False) -> Expr:
        a, b = (self.lift(other), self) if reflected else (self, self.lift(other))
        return type(self)(f"({a.code} {op} {b.code})", a.symbols | b.symbols)

    def __add__(self, other: Expr | float) -> Expr:
        return self._binary("+", other)

    def __radd__(self, other: float) -> Expr:
        return self._binary("+", other, reflected=True)

    def __sub__(self, other: Expr | float) -> Expr:
        return self._binary("-", other)

    def __rsub__(self, other: float) -> Expr:
        return self._binary("-", other, reflected=True)

    def __mul__(self, other: Expr | float) -> Expr:
        return self._binary("*", other)

    def __rmul__(self, other: float) -> Expr:
        return self._binary("*", other, reflected=True)

    def __truediv__(self, other: Expr | float) -> Expr:
        return self._binary("/", other)

    def __rtruediv__(self, other: float) -> Expr:
        return self._binary("/", other, reflected=True)

    def __neg__(self) -> Expr:
        return type(self)(f"(-{self.code})", self.symbols)

    def __bool__(self) -> bool:
        raise TypeError(f"a kernel formula cannot branch on the symbolic value {self.code}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r})"


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
        x = Expr.lift(x)
        return Expr(f"({x.code} >= 0.0f ? 1.0f : 0.0f)", x.symbols)


CUDA_OPS = CudaOps()


def _symbols(*names: str) -> list[Expr]:
    return [Expr.symbol(n) for n in names]


def _fn(signature: str, body: str) -> str:
    return f"  static __device__ __forceinline__ {signature} {{ {body} }}\n"


@dataclass(frozen=True)
class NeuronMath:
    """The neuron math of one variant as a CUDA ``struct`` of static device functions."""

    name: str
    source: str
    x_in_grads: bool
    """The input/state gradients read ``x`` (so the backward needs the saved input)."""
    x_in_theta_grad: bool
    """The θ gradient reads ``x`` (e.g. LIF with ``decay_input``: ``∂h/∂θ = x - (v - v_reset)``)."""


@cache
def render_math(dyn: NeuronDynamics) -> NeuronMath:
    """Render ``dyn`` into a struct with ``charge(v, x, theta)``, ``fire(h)``, ``reset(h, s)`` and
    ``backward(...)`` (one :meth:`NeuronDynamics.backward_step`).

    The struct's name is a digest of its body, so variants with the same math (e.g. IF with either
    ``decay_input``) share one compiled kernel.
    """
    v, x, theta, h, s = _symbols("v", "x", "theta", "h", "s")
    grad_s, grad_v, v_prev = _symbols("grad_s", "grad_v", "v_prev")
    grad_x, grad_v_prev, grad_theta = dyn.backward_step(grad_s, grad_v, h, v_prev, x, theta, CUDA_OPS)
    grad_theta = Expr.lift(0.0) if grad_theta is None else grad_theta
    x_in_grads = "x" in (grad_x.symbols | grad_v_prev.symbols)
    x_in_theta_grad = "x" in grad_theta.symbols
    body = (
        f"  static constexpr bool X_IN_GRADS = {str(x_in_grads).lower()};\n"
        f"  static constexpr bool X_IN_THETA_GRAD = {str(x_in_theta_grad).lower()};\n"
        + _fn("float charge(float v, float x, float theta)", f"return {dyn.charge(v, x, theta).code};")
        + _fn("float fire(float h)", f"return {CUDA_OPS.heaviside(h - dyn.v_threshold).code};")
        + _fn("float reset(float h, float s)", f"return {Expr.lift(dyn.reset(h, s)).code};")
        + _fn(
            "void backward(float grad_s, float grad_v, float h, float v_prev, float x, float theta, "
            "float& grad_x, float& grad_v_prev, float& grad_theta)",
            f"grad_x = {grad_x.code}; grad_v_prev = {grad_v_prev.code}; grad_theta = {grad_theta.code};",
        )
    )
    name = f"snn_{dyn.kind}_{hashlib.sha1(body.encode()).hexdigest()[:12]}"
    source = f"struct {name} {{  // {dyn!r}\n{body}}};\n"
    return NeuronMath(name, source, x_in_grads, x_in_theta_grad)


def kernel_names(dyn: NeuronDynamics, dtype: torch.dtype) -> tuple[str, str, str | None]:
    """Names of the ``(forward, backward, backward with θ gradient or None for IF)`` kernels."""
    prefix = f"{render_math(dyn).name}_{_io_type(dtype)[1]}"
    return f"{prefix}_fwd", f"{prefix}_bwd", f"{prefix}_bwd_theta" if dyn.has_theta else None


def kernel_source(dyn: NeuronDynamics, dtype: torch.dtype) -> str:
    """The complete CUDA translation unit for one ``(dynamics, dtype)`` variant.

    Sources are include-guarded, so any number of them concatenated is again one valid translation unit.
    """
    neuron = render_math(dyn)
    io_type, _ = _io_type(dtype)
    prefix = kernel_names(dyn, dtype)[0].removesuffix("_fwd")
    kernels = f"SNNLAB_DEFINE_KERNELS({neuron.name}, {io_type}, {prefix})\n"
    if dyn.has_theta:
        kernels += f"SNNLAB_DEFINE_THETA_KERNEL({neuron.name}, {io_type}, {prefix})\n"
    guard = f"SNNLAB_MATH_{neuron.name.upper()}"
    return f"{_template()}\n#ifndef {guard}\n#define {guard}\n{neuron.source}#endif\n{kernels}"


def dynamics_variants() -> list[NeuronDynamics]:
    """Every neuron variant: kind × hard/soft reset × detach_reset × decay_input (LIF) × surrogate."""
    variants = []
    for kind, v_reset, detach, name in itertools.product(
        KINDS, (0.0, None), (False, True), registry.names("surrogate")
    ):
        for decay_input in (True, False) if kind == "lif" else (True,):
            variants.append(NeuronDynamics(kind, 1.0, v_reset, detach, decay_input, registry.build("surrogate", name)))
    return variants


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

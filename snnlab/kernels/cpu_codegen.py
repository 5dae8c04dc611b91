"""Python source generation for the fused CPU kernels (compiled by Numba).

The same trick as the CUDA generator (:mod:`snnlab.kernels.codegen`): :class:`PyExpr` is the symbolic
:class:`~snnlab.kernels.codegen.Expr` with fp32 constants spelled ``f32(...)`` (Numba would compute a bare Python
float in float64), and :data:`NUMBA_OPS` the ``ops`` namespace in Numba-compilable Python.  Evaluating the
methods of :class:`~snnlab.math.dynamics.NeuronDynamics` and the surrogate on symbols renders the formulas the
torch backend runs into the loop template of :mod:`snnlab.kernels.multistep_cpu`.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import cache

import numpy as np

from snnlab.kernels.codegen import Expr
from snnlab.kernels.multistep_cpu import MODULE
from snnlab.math.dynamics import NeuronDynamics

BLOCK = 512
"""Neurons per block of the loops (their state buffers take ``BLOCK`` floats each)."""


class PyExpr(Expr):
    """A symbolic fp32 expression rendered as Python for Numba."""

    __slots__ = ()

    @staticmethod
    def constant(value: float) -> str:
        """``f32(...)`` holding exactly ``float32(value)`` (the value torch uses for a scalar operand)."""
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"cannot render the non-finite constant {value} into kernel source")
        return f"f32({np.float32(value)!s})"


class NumbaOps:
    """``ops`` namespace rendering the :class:`snnlab.math.ops.TorchOps` primitives as Numba fp32 code."""

    @staticmethod
    def exp(x: PyExpr) -> PyExpr:
        return PyExpr.call("_exp", x)

    @staticmethod
    def abs(x: PyExpr) -> PyExpr:
        return PyExpr.call("abs", x)

    @staticmethod
    def relu(x: PyExpr) -> PyExpr:
        return PyExpr.call("max", x, 0.0)

    @staticmethod
    def sigmoid(x: PyExpr) -> PyExpr:
        return 1.0 / (1.0 + NumbaOps.exp(-PyExpr.lift(x)))

    @staticmethod
    def heaviside(x: PyExpr) -> PyExpr:
        x = PyExpr.lift(x)
        one, zero = PyExpr.constant(1.0), PyExpr.constant(0.0)
        return PyExpr(f"({one} if {x.code} >= {zero} else {zero})", x.symbols)


NUMBA_OPS = NumbaOps()


@dataclass(frozen=True)
class CpuKernelSource:
    """The generated module of one neuron variant."""

    name: str
    """A valid module name: the neuron kind and a digest of :attr:`source`."""
    source: str
    x_in_grads: bool
    """The input/state gradients read ``x`` (so the backward needs the saved input)."""
    x_in_theta_grad: bool
    """The θ gradient reads ``x`` (LIF with ``decay_input``)."""


@cache
def module_source(dyn: NeuronDynamics) -> CpuKernelSource:
    """Render ``dyn`` into the loop template: a module with ``forward`` and ``backward`` kernels."""
    v, x, theta, h, h_prev = (PyExpr.symbol(n) for n in ("v", "x", "theta", "h", "h_prev"))
    grad_s, grad_v, v_prev, s = (PyExpr.symbol(n) for n in ("grad_s", "grad_v", "v_prev", "s"))
    grad_x, grad_v_prev, grad_theta = dyn.backward_step(grad_s, grad_v, h, v_prev, x, theta, NUMBA_OPS)
    grad_theta = PyExpr.lift(0.0) if grad_theta is None else grad_theta
    fields = {
        "variant": repr(dyn),
        "block": BLOCK,
        "has_theta": dyn.has_theta,
        "charge": dyn.charge(v, x, theta).code,
        "fire": NUMBA_OPS.heaviside(h - dyn.v_threshold).code,
        "reset": PyExpr.lift(dyn.reset(h, s)).code,
        "reset_prev": PyExpr.lift(dyn.reset(h_prev, NUMBA_OPS.heaviside(h_prev - dyn.v_threshold))).code,
        "grad_x": grad_x.code,
        "grad_v_prev": grad_v_prev.code,
        "grad_theta": grad_theta.code,
    }
    source = MODULE.substitute(fields)
    name = f"snnlab_cpu_{dyn.kind}_{hashlib.sha1(source.encode()).hexdigest()[:16]}"
    return CpuKernelSource(
        name, source, "x" in grad_x.symbols | grad_v_prev.symbols, dyn.has_theta and "x" in grad_theta.symbols
    )

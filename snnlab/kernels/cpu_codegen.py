"""Python source generation for the fused CPU kernels (compiled by Numba).

The same trick as the CUDA generator (:mod:`snnlab.kernels.codegen`): :class:`PyExpr` is the symbolic
:class:`~snnlab.kernels.codegen.Expr` with fp32 constants spelled ``f32(...)`` (Numba would compute a bare Python
float in float64), and :data:`NUMBA_OPS` the ``ops`` namespace in Numba-compilable Python.  Evaluating the
methods of :class:`~snnlab.math.dynamics.NeuronDynamics` and the surrogate on symbols renders the formulas the
torch backend runs into the loop templates of :mod:`snnlab.kernels.multistep_cpu`.

A module serves a *family*, the four variants of hard/soft reset × ``detach_reset`` that share everything
else: each quantity is rendered for all four and the kernel selects one by the runtime flags ``soft`` and
``detach``.  The rendered formulas become straight-line code with every distinct operation computed once
(:func:`straight_line`), which keeps Numba's compile time low.
"""

from __future__ import annotations

import ast
import hashlib
from dataclasses import dataclass, replace
from functools import cache

from snnlab.kernels.codegen import Expr, float32_text
from snnlab.kernels.multistep_cpu import BACKWARD, FORWARD
from snnlab.math.dynamics import NeuronDynamics
from snnlab.math.surrogate import Sigmoid

BLOCK = 512
"""Neurons per block of the loops."""
TRACE = 16384
"""Floats per trace buffer of the backward (``T × block``; the block shrinks for large ``T`` to keep them cached)."""
INDENT = " " * 16
"""Indentation of the innermost loop body in the templates."""


class PyExpr(Expr):
    """A symbolic fp32 expression rendered as Python for Numba."""

    __slots__ = ()

    @staticmethod
    def constant(value: float) -> str:
        """``f32(...)`` holding exactly ``float32(value)`` (the value torch uses for a scalar operand)."""
        return f"f32({float32_text(value)})"


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
MEMBERS = ((False, False), (False, True), (True, False), (True, True))
"""The ``(soft, detach)`` flags of a family's variants, in the order of :func:`members`."""


def family(dyn: NeuronDynamics) -> NeuronDynamics:
    """The representative of ``dyn``'s family: hard reset (to ``dyn.v_reset``, or 0 when soft), no detach."""
    return replace(dyn, v_reset=0.0 if dyn.v_reset is None else dyn.v_reset, detach_reset=False)


def members(fam: NeuronDynamics) -> list[NeuronDynamics]:
    """The four variants of a family, in :data:`MEMBERS` order."""
    return [replace(fam, v_reset=None if soft else fam.v_reset, detach_reset=detach) for soft, detach in MEMBERS]


def selected(values: list[PyExpr]) -> str:
    """Code choosing ``values[k]`` (one per family member) by the runtime flags ``soft`` and ``detach``."""
    codes = [v.code for v in values]

    def pick(if_false: str, if_true: str, flag: str) -> str:
        return if_false if if_false == if_true else f"({if_true} if {flag} else {if_false})"

    return pick(pick(codes[0], codes[1], "detach"), pick(codes[2], codes[3], "detach"), "soft")


def straight_line(targets: dict[str, str], prefix: str) -> list[str]:
    """Statements assigning each target its expression, with every distinct operation computed once into a
    temporary ``{prefix}{k}``.  Both arms of a selection are computed before it, so it compiles to a select."""
    temps: dict[str, str] = {}
    lines: list[str] = []

    def visit(node: ast.expr) -> ast.expr:
        if isinstance(node, (ast.Name, ast.Constant)) or (
            isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "f32"
        ):
            return node
        for name, value in ast.iter_fields(node):
            if isinstance(value, ast.expr):
                setattr(node, name, visit(value))
            elif isinstance(value, list):
                setattr(node, name, [visit(v) if isinstance(v, ast.expr) else v for v in value])
        code = ast.unparse(node)
        if code not in temps:
            temps[code] = f"{prefix}{len(temps)}"
            lines.append(f"{temps[code]} = {code}")
        return ast.Name(temps[code], ast.Load())

    for target, code in targets.items():
        lines.append(f"{target} = {ast.unparse(visit(ast.parse(code, mode='eval').body))}")
    return lines


@dataclass(frozen=True)
class KernelModule:
    """A generated kernel module."""

    name: str
    """A valid module name: the direction, the neuron kind and a digest of :attr:`source`."""
    source: str


def forward_module(dyn: NeuronDynamics) -> KernelModule:
    """The module with the ``forward`` kernel of ``dyn``'s family (any surrogate and ``detach_reset``)."""
    return _forward_module(replace(family(dyn), surrogate=Sigmoid()))


def backward_module(dyn: NeuronDynamics) -> KernelModule:
    """The module with the ``backward`` kernel of ``dyn``'s family."""
    return _backward_module(family(dyn))


def _statements(targets: dict[str, str], prefix: str) -> str:
    return "\n".join(INDENT + line for line in straight_line(targets, prefix))


def _step(fam: NeuronDynamics) -> str:
    """One forward step of every family member: ``h``, ``s`` and ``v_next`` from ``v``, ``x`` and ``theta``."""
    v, x, theta, h, s = (PyExpr.symbol(n) for n in ("v", "x", "theta", "h", "s"))
    variants = members(fam)
    step = {
        "h": selected([dyn.charge(v, x, theta) for dyn in variants]),
        "s": NUMBA_OPS.heaviside(h - fam.v_threshold).code,
        "v_next": selected([PyExpr.lift(dyn.reset(h, s)) for dyn in variants]),
    }
    return _statements(step, "_f")


def _name(direction: str, fam: NeuronDynamics, source: str) -> str:
    return f"snnlab_cpu_{direction}_{fam.kind}_{hashlib.sha1(source.encode()).hexdigest()[:16]}"


@cache
def _forward_module(fam: NeuronDynamics) -> KernelModule:
    kind = f"kind={fam.kind!r}, v_threshold={fam.v_threshold}, v_reset={fam.v_reset}, decay_input={fam.decay_input}"
    description = f"the forward of {kind}, hard or soft reset, any surrogate"
    source = FORWARD.substitute(description=description, block=BLOCK, step=_step(fam))
    return KernelModule(_name("fwd", fam, source), source)


@cache
def _backward_module(fam: NeuronDynamics) -> KernelModule:
    grad_s, grad_v, h, v_prev, x, theta = (PyExpr.symbol(n) for n in ("grad_s", "grad_v", "h", "v_prev", "x", "theta"))
    grads = [dyn.backward_step(grad_s, grad_v, h, v_prev, x, theta, NUMBA_OPS) for dyn in members(fam)]
    grad_x, grad_v_prev, grad_theta = ([PyExpr.lift(0.0 if g[k] is None else g[k]) for g in grads] for k in range(3))
    backward_step = {
        "grad_x": selected(grad_x),
        "grad_v_prev": selected(grad_v_prev),
        "grad_theta": selected(grad_theta),
    }
    source = BACKWARD.substitute(
        description=f"the backward of {fam!r}, hard or soft reset, detach_reset or not",
        block=BLOCK,
        trace=TRACE,
        has_theta=fam.has_theta,
        step=_step(fam),
        backward_step=_statements(backward_step, "_b"),
    )
    return KernelModule(_name("bwd", fam, source), source)

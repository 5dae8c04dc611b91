"""Python source generation for the fused CPU kernels (compiled by Numba).

The renderer of the CUDA generator (:mod:`snnlab.kernels.render`) with :class:`PyExpr`, which spells fp32
constants ``f32(...)`` (Numba would compute a bare Python float in float64), and :data:`NUMBA_OPS`, the ``ops``
namespace in Numba-compilable Python.  The trees of a declaration's step and backward pass
(:func:`~snnlab.math.symbolic_step.symbolic_step`) become straight-line statements, every distinct operation
computed once (which keeps Numba's compile time low), in the loop templates of
:mod:`snnlab.kernels.multistep_cpu`; the arguments and per-state lines follow the declared states and parameters.

A module serves a *family*, the four variants of hard/soft reset × ``detach_reset`` that share everything
else: each quantity is rendered for all four and the kernel selects one by the runtime flags ``soft`` and
``detach``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache

from snnlab.kernels.multistep_cpu import BACKWARD, FORWARD
from snnlab.kernels.render import Expr, float32_text, straight_line
from snnlab.math.dynamics import MEMBRANE, NeuronDynamics
from snnlab.math.surrogate import Sigmoid
from snnlab.math.symbolic import SYM_OPS, Sym
from snnlab.math.symbolic_step import (
    SymbolicStep,
    charged_symbol,
    grad_symbol,
    param_symbol,
    state_symbol,
    symbolic_step,
)

BLOCK = 512
"""Neurons per block of the loops."""
TRACE = 16384
"""Floats per trace buffer of the backward (``T × block``; the block shrinks for large ``T`` to keep them cached)."""

Signature = tuple[tuple[str, str], ...]


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
        one, zero = PyExpr.constant(1.0), PyExpr.constant(0.0)
        return PyExpr(f"({one} if {PyExpr.lift(x).code} >= {zero} else {zero})")

    @staticmethod
    def select(flag: PyExpr, if_true: PyExpr, if_false: PyExpr) -> PyExpr:
        return PyExpr(f"({PyExpr.lift(if_true).code} if {flag.code} else {PyExpr.lift(if_false).code})")


NUMBA_OPS = NumbaOps()
MEMBERS = ((False, False), (False, True), (True, False), (True, True))
"""The ``(soft, detach)`` flags of a family's variants, in the order of :func:`members`."""


def family(dyn: NeuronDynamics) -> NeuronDynamics:
    """The representative of ``dyn``'s family: hard reset (to ``dyn.v_reset``, or 0 when soft), no detach."""
    return replace(dyn, v_reset=0.0 if dyn.v_reset is None else dyn.v_reset, detach_reset=False)


def members(fam: NeuronDynamics) -> list[NeuronDynamics]:
    """The four variants of a family, in :data:`MEMBERS` order."""
    return [replace(fam, v_reset=None if soft else fam.v_reset, detach_reset=detach) for soft, detach in MEMBERS]


def merged(fam: NeuronDynamics, trees: Callable[[SymbolicStep], dict[str, Sym]]) -> dict[str, Sym]:
    """``trees`` of every family member, each key's four trees merged into one that selects the member by the
    runtime flags ``soft`` and ``detach`` (equal trees need no selection)."""
    m = [trees(symbolic_step(dyn)) for dyn in members(fam)]
    soft, detach = Sym.var("soft"), Sym.var("detach")
    sel = SYM_OPS.select
    return {k: sel(soft, sel(detach, m[3][k], m[2][k]), sel(detach, m[1][k], m[0][k])) for k in m[0]}


@dataclass(frozen=True)
class KernelModule:
    """A generated kernel module."""

    name: str
    """A valid module name: the direction, the declaration and a digest of :attr:`source`."""
    source: str
    signature: Signature
    """The kernel's arguments as ``(name, kind)``; kinds: ``seq`` (``[T, N]``), ``vec`` (``[N]``), ``seq?`` /
    ``vec?`` (empty when absent), ``f32``, ``bool``, ``int``."""


def forward_module(dyn: NeuronDynamics) -> KernelModule:
    """The module with the ``forward`` kernel of ``dyn``'s family (any surrogate and ``detach_reset``)."""
    return _forward_module(replace(family(dyn), surrogate=Sigmoid()))


def backward_module(dyn: NeuronDynamics) -> KernelModule:
    """The module with the ``backward`` kernel of ``dyn``'s family."""
    return _backward_module(family(dyn))


def _lines(lines: list[str], depth: int) -> str:
    return "\n".join(" " * (4 * depth) + line for line in lines)


def _statements(targets: dict[str, Sym], loads: dict[str, str]) -> list[str]:
    """Assignments of ``targets`` (keys: Python lvalues) after loading the read variables from ``loads``."""
    code = straight_line(targets, PyExpr, NUMBA_OPS)
    return (
        [f"{name} = {source}" for name, source in loads.items() if name in code.reads]
        + [f"{name} = {value}" for name, value in code.temps]
        + [f"{target} = {value}" for target, value in code.outputs.items()]
    )


def _param_args(dyn: NeuronDynamics) -> Signature:
    return tuple((f"ptr_{q.name}", "vec") if q.per_channel else (f"val_{q.name}", "f32") for q in dyn.params)


def _param_lines(dyn: NeuronDynamics) -> tuple[list[str], list[str], dict[str, str]]:
    """``(setup lines, block lines, per-element loads)``: scalars aliased once, per-channel ones sliced per block."""
    scalars = [f"{param_symbol(q.name)} = val_{q.name}" for q in dyn.params if not q.per_channel]
    blocks = [f"pb_{q.name} = ptr_{q.name}[b0:b1]" for q in dyn.params if q.per_channel]
    loads = {param_symbol(q.name): f"pb_{q.name}[j]" for q in dyn.params if q.per_channel}
    return scalars, blocks, loads


def _name(direction: str, fam: NeuronDynamics, source: str) -> str:
    return f"snnlab_cpu_{direction}_{type(fam).__name__.lower()}_{hashlib.sha1(source.encode()).hexdigest()[:16]}"


@cache
def _forward_module(fam: NeuronDynamics) -> KernelModule:
    states = fam.state_names
    signature = (
        ("x_seq", "seq"),
        *((f"init_{k}", "vec") for k in states),
        *_param_args(fam),
        *(("soft", "bool"), ("s_seq", "seq"), ("v_seq", "seq?")),
        *((f"last_{k}", "vec") for k in states),
        *(("start", "int"), ("stop", "int")),
    )
    setup, param_blocks, param_loads = _param_lines(fam)
    forward = merged(fam, SymbolicStep.forward)
    targets = {"s_t[j]": forward["s"], "v_t[j]": forward[MEMBRANE], **{f"blk_{k}[j]": forward[k] for k in states}}
    loads = {"x": "x_t[j]", **{state_symbol(k): f"blk_{k}[j]" for k in states}, **param_loads}
    blocks = [line for k in states for line in (f"blk_{k} = last_{k}[b0:b1]", f"blk_{k}[:] = init_{k}[b0:b1]")]
    source = FORWARD.substitute(
        description=f"the forward of {fam!r}, hard or soft reset, any surrogate",
        block=BLOCK,
        args=", ".join(name for name, _ in signature),
        setup=_lines(setup, 1),
        blocks=_lines(blocks + param_blocks, 2),
        step=_lines(_statements(targets, loads), 4),
    )
    return KernelModule(_name("fwd", fam, source), source, signature)


@cache
def _backward_module(fam: NeuronDynamics) -> KernelModule:
    states, params = fam.state_names, [q.name for q in fam.params]
    signature = (
        *(("grad_s_seq", "seq?"), ("grad_v_seq", "seq?")),
        *((f"grad_last_{k}", "vec?") for k in states),
        ("x_seq", "seq"),
        *((f"init_{k}", "vec") for k in states),
        *_param_args(fam),
        *(("soft", "bool"), ("detach", "bool"), ("grad_x_seq", "seq")),
        *((f"grad_init_{k}", "vec") for k in states),
        *((f"grad_{q}", "vec?") for q in params),
        *(("start", "int"), ("stop", "int")),
    )
    setup, param_blocks, param_loads = _param_lines(fam)
    grads = merged(fam, lambda step: step.grads)
    reads = frozenset().union(*(g.symbols for g in grads.values()))
    traced = [s for k in states for s in (state_symbol(k), charged_symbol(k)) if s in reads]
    forward = merged(fam, lambda step: {**step.charge, **step.forward()})
    recompute = {f"tv_{s}[j]": forward.get(s, Sym.var(s)) for s in traced}
    recompute |= {f"blk_{k}[j]": forward[k] for k in states}
    state_loads = {"x": "x_t[j]", **{state_symbol(k): f"blk_{k}[j]" for k in states}, **param_loads}
    step = {"grad_x_t[j]": grads["x"], **{f"blk_{k}[j]": grads[state_symbol(k)] for k in states}}
    step |= {f"gp_{q}[j]": Sym.var(f"gpa_{q}") + grads[param_symbol(q)] for q in params}
    grad_loads = {grad_symbol(k): f"blk_{k}[j]" + (" + grad_v_t[j]" if k == MEMBRANE else "") for k in states}
    grad_loads |= {"gs": "grad_s_t[j]", "x": "x_t[j]", **{s: f"tv_{s}[j]" for s in traced}, **param_loads}
    grad_loads |= {f"gpa_{q}": f"gp_{q}[j]" for q in params}
    blocks = [line for k in states for line in (f"blk_{k} = grad_init_{k}[b0:b1]", f"blk_{k}[:] = init_{k}[b0:b1]")]
    blocks += param_blocks
    for q in params:
        blocks += [f"gp_{q} = grad_{q}[b0:b1] if grad_{q}.shape[0] > 0 else scratch[: b1 - b0]", f"gp_{q}[:] = 0"]
    source = BACKWARD.substitute(
        description=f"the backward of {fam!r}, hard or soft reset, detach_reset or not",
        block=BLOCK,
        trace=TRACE,
        args=", ".join(name for name, _ in signature),
        setup=_lines(setup + [f"tr_{s} = np.empty(T * block, f32)" for s in traced], 1),
        blocks=_lines(blocks, 2),
        rows=_lines([f"tv_{s} = tr_{s}[t * block : t * block + b1 - b0]" for s in traced], 3),
        recompute=_lines(_statements(recompute, state_loads), 4),
        grad_blocks=_lines(
            [f"blk_{k}[:] = grad_last_{k}[b0:b1] if grad_last_{k}.shape[0] > 0 else zeros[: b1 - b0]" for k in states],
            2,
        ),
        backward_step=_lines(_statements(step, grad_loads), 4),
    )
    return KernelModule(_name("bwd", fam, source), source, signature)

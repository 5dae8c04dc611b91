"""Symbolic scalar formulas: expression trees, their derivatives, substitution and evaluation.

Running a neuron declaration or a surrogate derivative on :class:`Sym` values, with :data:`SYM_OPS` as its
``ops``, records the formula as a tree instead of computing it.  Trees are differentiated here (:func:`diff`,
for the backward pass) and rendered into kernel source by :mod:`snnlab.kernels`.  Construction folds constants
and drops ``+ 0``, ``- 0``, ``· 1``, ``/ 1`` and ``· 0`` terms, which is exact for finite values, so a rendered
forward pass computes the same fp32 operations as torch.  Nodes compare and hash by structure, so equal
subtrees are found (and computed once) by the renderers.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

ARITHMETIC: dict[str, Callable[..., Any]] = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "div": operator.truediv,
    "neg": operator.neg,
}
"""Operators spelled alike in Python and C; every other operation is a call of an ``ops`` function."""


class Sym:
    """A node of a symbolic ``float`` formula: ``op`` is ``"var"`` (``args = (name,)``), ``"const"``
    (``args = (value,)``), an :data:`ARITHMETIC` operator or an ``ops`` function name.

    ``symbols`` holds the free variables.  Truth testing raises, so a formula that branches on a value (which
    cannot be rendered) fails loudly.
    """

    __slots__ = ("_hash", "args", "op", "symbols")

    def __init__(self, op: str, args: tuple[Any, ...]) -> None:
        self.op, self.args = op, args
        if op == "var":
            self.symbols = frozenset(args)
        else:
            self.symbols = frozenset().union(*(a.symbols for a in args if isinstance(a, Sym)))
        self._hash = hash((op, args))

    @classmethod
    def var(cls, name: str) -> Sym:
        return cls("var", (name,))

    @classmethod
    def const(cls, value: float) -> Sym:
        return cls("const", (float(value),))

    @classmethod
    def lift(cls, value: Sym | float) -> Sym:
        if isinstance(value, Sym):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return cls.const(value)
        raise TypeError(f"cannot use {type(value).__name__} {value!r} in a symbolic formula")

    def is_const(self, value: float | None = None) -> bool:
        """Whether this is a constant (equal to ``value``, when given)."""
        return self.op == "const" and (value is None or self.args[0] == value)

    def __add__(self, other: Sym | float) -> Sym:
        return _add(self, Sym.lift(other))

    def __radd__(self, other: float) -> Sym:
        return _add(Sym.lift(other), self)

    def __sub__(self, other: Sym | float) -> Sym:
        return _sub(self, Sym.lift(other))

    def __rsub__(self, other: float) -> Sym:
        return _sub(Sym.lift(other), self)

    def __mul__(self, other: Sym | float) -> Sym:
        return _mul(self, Sym.lift(other))

    def __rmul__(self, other: float) -> Sym:
        return _mul(Sym.lift(other), self)

    def __truediv__(self, other: Sym | float) -> Sym:
        return _div(self, Sym.lift(other))

    def __rtruediv__(self, other: float) -> Sym:
        return _div(Sym.lift(other), self)

    def __neg__(self) -> Sym:
        if self.is_const():
            return Sym.const(-self.args[0])
        return self.args[0] if self.op == "neg" else Sym("neg", (self,))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sym) and self._hash == other._hash and (self.op, self.args) == (other.op, other.args)

    def __hash__(self) -> int:
        return self._hash

    def __bool__(self) -> bool:
        raise TypeError(f"a neuron formula cannot branch on the symbolic value {self!r}")

    def __repr__(self) -> str:
        if self.op in ("var", "const"):
            return str(self.args[0])
        return f"{self.op}({', '.join(map(repr, self.args))})"


ZERO, ONE = Sym.const(0.0), Sym.const(1.0)


def _node(op: str, a: Sym, b: Sym) -> Sym:
    """``a op b``, folded into a constant when both are (in float64, as Python folds constants)."""
    if a.is_const() and b.is_const() and not (op == "div" and b.is_const(0.0)):
        return Sym.const(ARITHMETIC[op](a.args[0], b.args[0]))
    return Sym(op, (a, b))


def _add(a: Sym, b: Sym) -> Sym:
    if a.is_const(0.0):
        return b
    if b.is_const(0.0):
        return a
    if b.op == "neg":
        return _sub(a, b.args[0])
    return _node("add", a, b)


def _sub(a: Sym, b: Sym) -> Sym:
    if b.is_const(0.0):
        return a
    if a.is_const(0.0):
        return -b
    return _node("sub", a, b)


def _mul(a: Sym, b: Sym) -> Sym:
    for one, other in ((a, b), (b, a)):
        if one.is_const(0.0):
            return ZERO
        if one.is_const(1.0):
            return other
        if one.is_const(-1.0):
            return -other
    return _node("mul", a, b)


def _div(a: Sym, b: Sym) -> Sym:
    if b.is_const(1.0):
        return a
    if a.is_const(0.0):
        return ZERO
    return _node("div", a, b)


class SymOps:
    """``ops`` namespace building :class:`Sym` trees (the names of :class:`snnlab.math.ops.TorchOps`)."""

    @staticmethod
    def exp(x: Sym | float) -> Sym:
        return Sym("exp", (Sym.lift(x),))

    @staticmethod
    def abs(x: Sym | float) -> Sym:
        return Sym("abs", (Sym.lift(x),))

    @staticmethod
    def relu(x: Sym | float) -> Sym:
        return Sym("relu", (Sym.lift(x),))

    @staticmethod
    def sigmoid(x: Sym | float) -> Sym:
        return Sym("sigmoid", (Sym.lift(x),))

    @staticmethod
    def heaviside(x: Sym | float) -> Sym:
        return Sym("heaviside", (Sym.lift(x),))

    @staticmethod
    def select(flag: Sym, if_true: Sym | float, if_false: Sym | float) -> Sym:
        if_true, if_false = Sym.lift(if_true), Sym.lift(if_false)
        return if_true if if_true == if_false else Sym("select", (flag, if_true, if_false))


SYM_OPS = SymOps()


def apply(op: str, args: tuple[Any, ...], ops: Any) -> Any:
    """The operation ``op`` of a tree node on evaluated ``args``, with ``ops`` for the function calls."""
    return ARITHMETIC[op](*args) if op in ARITHMETIC else getattr(ops, op)(*args)


def evaluate(exprs: Mapping[str, Sym], env: Mapping[str, Any], ops: Any) -> dict[str, Any]:
    """Each formula of ``exprs`` evaluated with the variables of ``env`` and the functions of ``ops`` (shared
    subtrees once)."""
    memo: dict[Sym, Any] = {}

    def value(e: Sym) -> Any:
        if e.op == "const":
            return e.args[0]
        if e.op == "var":
            return env[e.args[0]]
        if e not in memo:
            memo[e] = apply(e.op, tuple(value(a) for a in e.args), ops)
        return memo[e]

    return {k: value(e) for k, e in exprs.items()}


def substitute(exprs: Mapping[str, Sym], mapping: Mapping[str, Sym]) -> dict[str, Sym]:
    """``exprs`` with the variables named in ``mapping`` replaced by its formulas (and simplified again)."""
    names = frozenset().union(*(e.symbols for e in exprs.values()))
    env = {n: mapping.get(n, Sym.var(n)) for n in names}
    return {k: Sym.lift(v) for k, v in evaluate(exprs, env, SYM_OPS).items()}


def diff(expr: Sym, name: str) -> Sym:
    """``∂expr/∂name``.  The step functions (``heaviside``, ``abs``, ``relu``) of a formula may not depend on
    ``name``: they have no derivative a neuron's backward pass could use (only the spike has a surrogate)."""
    memo: dict[Sym, Sym] = {}

    def d(e: Sym) -> Sym:
        if name not in e.symbols:
            return ZERO
        if e not in memo:
            memo[e] = _derivative(e, name, d)
        return memo[e]

    return d(expr)


def _derivative(e: Sym, name: str, d: Callable[[Sym], Sym]) -> Sym:
    op, args = e.op, e.args
    if op == "var":
        return ONE
    if op in ("add", "sub"):
        return apply(op, (d(args[0]), d(args[1])), SYM_OPS)
    if op == "neg":
        return -d(args[0])
    if op == "mul":
        return d(args[0]) * args[1] + args[0] * d(args[1])
    if op == "div":
        return d(args[0]) / args[1] - args[0] * d(args[1]) / (args[1] * args[1])
    if op == "exp":
        return e * d(args[0])
    if op == "sigmoid":
        return e * (1.0 - e) * d(args[0])
    if op == "select" and name not in args[0].symbols:
        return SYM_OPS.select(args[0], d(args[1]), d(args[2]))
    raise ValueError(f"cannot differentiate {op}() in {e!r}: the formula's step functions must not depend on it")

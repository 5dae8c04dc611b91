"""Rendering formula trees as source code: the half shared by the CUDA and the Numba code generators.

:class:`Expr` is a symbolic ``float`` whose arithmetic builds fully parenthesised code (spelled alike in C and
Python); a subclass per language spells constants, and an ``ops`` namespace per language (with the names of
:class:`snnlab.math.ops.TorchOps`) spells the primitives.  :func:`straight_line` renders the trees of
:mod:`snnlab.math.symbolic` into statements that compute every distinct operation once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from snnlab.math.symbolic import Sym, apply


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
    """A symbolic ``float`` expression rendered as C: arithmetic builds fully parenthesised code.

    Truth testing raises, so code that branches on a value (which cannot be rendered) fails loudly.  A subclass
    for another language overrides :meth:`constant`.
    """

    __slots__ = ("code",)

    def __init__(self, code: str) -> None:
        self.code = code

    @staticmethod
    def constant(value: float) -> str:
        """The code of the fp32 constant ``value``."""
        return literal(value)

    @classmethod
    def symbol(cls, name: str) -> Expr:
        return cls(name)

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
        return cls(f"{fn}({', '.join(cls.lift(a).code for a in args)})")

    def _binary(self, op: str, other: Expr | float, reflected: bool = False) -> Expr:
        a, b = (self.lift(other), self) if reflected else (self, self.lift(other))
        return type(self)(f"({a.code} {op} {b.code})")

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
        return type(self)(f"(-{self.code})")

    def __bool__(self) -> bool:
        raise TypeError(f"a kernel formula cannot branch on the symbolic value {self.code}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r})"


@dataclass(frozen=True)
class StraightLine:
    """Rendered trees: ``temps`` are ``(name, code)`` statements in order, ``outputs`` the code of each target
    (a temporary, a variable or a constant) and ``reads`` the variables the statements read."""

    temps: list[tuple[str, str]]
    outputs: dict[str, str]
    reads: frozenset[str]


def straight_line(targets: Mapping[str, Sym], expr: type[Expr], ops: Any, prefix: str = "_t") -> StraightLine:
    """The trees of ``targets`` as statements computing every distinct operation once into a temporary
    ``{prefix}{k}``, each from variables, constants and earlier temporaries (so both arms of a ``select`` are
    computed before it and it compiles to a select, not a branch)."""
    names: dict[Sym, str] = {}
    temps: list[tuple[str, str]] = []

    def ref(e: Sym) -> Expr:
        if e.op == "var":
            return expr.symbol(e.args[0])
        if e.op == "const":
            return expr.lift(e.args[0])
        if e not in names:
            code = expr.lift(apply(e.op, tuple(ref(a) for a in e.args), ops)).code
            names[e] = f"{prefix}{len(names)}"
            temps.append((names[e], code))
        return expr.symbol(names[e])

    outputs = {k: ref(e).code for k, e in targets.items()}
    return StraightLine(temps, outputs, frozenset().union(*(e.symbols for e in targets.values())))

"""One neuron step as expression trees, and its backward pass by symbolic differentiation.

:func:`symbolic_step` runs a declaration (:class:`~snnlab.math.dynamics.NeuronDynamics`) on symbols and
differentiates the result in reverse mode, through reset, fire (the surrogate derivative) and charge.  The
code generators render these trees; nothing is hand-derived per neuron kind.  Symbols, for a state ``k`` and
a parameter ``q``::

    x      the input                     st_k   state k before the step     p_q   parameter q
    c_k    charged value of state k      s      the spike
    gs     ∂L/∂s (from the loss)         g_k    ∂L/∂(state k after the step)

State and parameter names are lower-case letters and digits, so they never meet the kernels' own names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from types import SimpleNamespace
from typing import Any

from snnlab.math.dynamics import MEMBRANE, NeuronDynamics, Param
from snnlab.math.symbolic import SYM_OPS, ZERO, Sym, diff, substitute

NAME = re.compile(r"[a-z][a-z0-9]*")


def state_symbol(name: str) -> str:
    return f"st_{name}"


def param_symbol(name: str) -> str:
    return f"p_{name}"


def charged_symbol(name: str) -> str:
    return f"c_{name}"


def grad_symbol(name: str) -> str:
    return f"g_{name}"


@dataclass(frozen=True)
class SymbolicStep:
    """The trees of one step of a declaration."""

    states: tuple[str, ...]
    params: tuple[Param, ...]
    charge: dict[str, Sym]
    """``c_k`` from ``x``, the states and the parameters."""
    spike: Sym
    """``s = Θ(c_v - threshold)`` from the charged values and the parameters."""
    reset: dict[str, Sym]
    """Each state after the step (keyed by its name) from the charged values and the parameters (the spike
    substituted)."""
    grads: dict[str, Sym]
    """``∂L/∂x``, ``∂L/∂st_k`` (before the step) and ``∂L/∂p_q`` (keyed by those symbols) from ``x``, the states,
    the charged values, the parameters, ``gs`` and the ``g_k``."""

    @property
    def membrane(self) -> int:
        """Index of the membrane ``v`` among the states."""
        return self.states.index(MEMBRANE)

    def forward(self) -> dict[str, Sym]:
        """``s`` and each state after the step (keyed by its name), from ``x``, the states and the parameters."""
        return substitute({"s": self.spike, **self.reset}, self.charge)

    def x_in_grads(self, params: bool) -> bool:
        """Whether the input or state gradients (``params``: the parameter gradients) read ``x``."""
        keys = [param_symbol(q.name) for q in self.params] if params else ["x", *map(state_symbol, self.states)]
        return any("x" in self.grads[k].symbols for k in keys)


@cache
def symbolic_step(dyn: NeuronDynamics) -> SymbolicStep:
    """The trees of one step of ``dyn`` (cached per declaration)."""
    names = dyn.state_names
    _check_names(type(dyn).__name__, [*names, *(q.name for q in dyn.params)])
    p = SimpleNamespace(**{q.name: Sym.var(param_symbol(q.name)) for q in dyn.params})
    st = SimpleNamespace(**{k: Sym.var(state_symbol(k)) for k in names})
    c = SimpleNamespace(**{k: Sym.var(charged_symbol(k)) for k in names})
    charged = _outputs(dyn, "charge", dyn.charge(Sym.var("x"), st, p))
    u = c.v - Sym.lift(dyn.threshold(c, p))
    new = _outputs(dyn, "reset", dyn.reset(c, Sym.var("s"), p))

    g = {k: Sym.var(grad_symbol(k)) for k in names}

    def via_reset(wrt: str) -> Sym:
        return sum((g[m] * diff(new[m], wrt) for m in names), ZERO)

    g_spike = Sym.var("gs") + (ZERO if dyn.detach_reset else via_reset("s"))
    g_u = g_spike * Sym.lift(dyn.surrogate.grad(u, SYM_OPS))
    g_c = {k: via_reset(charged_symbol(k)) + g_u * diff(u, charged_symbol(k)) for k in names}

    def via_charge(wrt: str) -> Sym:
        return sum((g_c[k] * diff(charged[k], wrt) for k in names), ZERO)

    grads = {"x": via_charge("x"), **{state_symbol(k): via_charge(state_symbol(k)) for k in names}}
    for q in dyn.params:
        name = param_symbol(q.name)
        grads[name] = via_reset(name) + g_u * diff(u, name) + via_charge(name)
    spike = SYM_OPS.heaviside(u)
    return SymbolicStep(
        names,
        tuple(dyn.params),
        {charged_symbol(k): v for k, v in charged.items()},
        spike,
        substitute(new, {"s": spike}),
        substitute(grads, {"s": spike}),
    )


def _check_names(owner: str, names: list[str]) -> None:
    bad = [n for n in names if not NAME.fullmatch(n)]
    if bad or len(set(names)) != len(names):
        raise ValueError(f"{owner}: state and parameter names must be distinct [a-z][a-z0-9]* names, got {names}")


def _outputs(dyn: NeuronDynamics, method: str, values: dict[str, Any]) -> dict[str, Sym]:
    if set(values) != set(dyn.state_names):
        raise ValueError(
            f"{type(dyn).__name__}.{method}() must return a value for each state {list(dyn.state_names)}, "
            f"got {sorted(values)}"
        )
    return {k: Sym.lift(values[k]) for k in dyn.state_names}

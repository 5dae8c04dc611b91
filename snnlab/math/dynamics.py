"""Neuron dynamics as data: a declaration of states, parameters and the charge / fire / reset formulas.

A neuron kind is a frozen dataclass deriving from :class:`NeuronDynamics`.  It declares its state variables
(:attr:`~NeuronDynamics.states`, always with the membrane ``v``) and its parameters
(:attr:`~NeuronDynamics.params`, scalar or per-channel), and writes its formulas with plain arithmetic and an
``ops`` namespace (:mod:`snnlab.math.ops`) over namespaces of those states and parameters.  Its fields
(threshold, reset, switches such as ``decay_input``) are constants of the formulas; parameter *values* come at
run time, as fixed floats or learnable tensors.  The torch backend runs the formulas on tensors;
:mod:`snnlab.math.symbolic_step` runs them on symbols and differentiates them, and the code generators of
:mod:`snnlab.kernels` render that into fused kernels, so nothing anywhere switches on a neuron kind.

One step, with states ``S``, parameters ``P`` and input ``x``::

    charge  C = charge(x, S, P)               one charged value per state; C.v = h, the membrane after charging
    fire    s = Θ(C.v - threshold(C, P))      (surrogate derivative in backward)
    reset   S' = reset(C, s', P)              s' = s.detach() if detach_reset else s

The default threshold is ``v_threshold``; the default reset sets ``v' = s'·v_reset + (1 - s')·h`` (hard) or
``v' = h - s'·threshold`` (soft, ``v_reset=None``) and keeps every other charged value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, ClassVar

import torch

from snnlab.math.surrogate import Sigmoid, Surrogate

MEMBRANE = "v"
"""The state every neuron has: the membrane potential (``neuron.v``, recorded by ``store_v_seq``)."""


@dataclass(frozen=True)
class State:
    """A state variable and its value after ``reset()`` (the membrane starts at the reset potential instead)."""

    name: str
    init: float = 0.0


@dataclass(frozen=True)
class Param:
    """A parameter of the formulas: one scalar, or one value per channel (dim 1 of a ``[B, C, ...]`` step)."""

    name: str
    per_channel: bool = False


@dataclass(frozen=True)
class NeuronDynamics:
    """Base of the neuron declarations (hashable: also the kernel-cache key).

    Subclasses set :attr:`states` (a class attribute) and :attr:`params` (a class attribute or a property) and
    implement :meth:`charge`; they may override :meth:`threshold`, :meth:`reset`, :meth:`nir_charge` and
    :meth:`variants`.  Formulas get namespaces: ``st.<state>``, ``p.<param>``, ``c.<state>`` (charged values).
    """

    v_threshold: float = 1.0
    v_reset: float | None = 0.0
    detach_reset: bool = False
    surrogate: Surrogate = field(default_factory=Sigmoid)

    states: ClassVar[tuple[State, ...]] = (State(MEMBRANE),)
    params: ClassVar[tuple[Param, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        names = [s.name for s in cls.states]
        if MEMBRANE not in names or len(set(names)) != len(names):
            raise TypeError(f"{cls.__name__}.states must name distinct states including {MEMBRANE!r}, got {names}")

    @property
    def vr(self) -> float:
        """Reset potential used inside the formulas (0 under soft reset)."""
        return 0.0 if self.v_reset is None else float(self.v_reset)

    @property
    def state_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.states)

    # -- the formulas ------------------------------------------------------------------------------------------
    def charge(self, x: Any, st: SimpleNamespace, p: SimpleNamespace) -> dict[str, Any]:
        """The charged value of every state, ``{"v": h, ...}``, from the input and the previous states."""
        raise NotImplementedError

    def threshold(self, c: SimpleNamespace, p: SimpleNamespace) -> Any:
        """The firing threshold (the neuron fires where ``c.v >= threshold``)."""
        return self.v_threshold

    def reset(self, c: SimpleNamespace, s: Any, p: SimpleNamespace) -> dict[str, Any]:
        """Every state after the spike ``s`` (already detached under ``detach_reset``)."""
        return {**vars(c), MEMBRANE: self.reset_membrane(c.v, s, self.threshold(c, p))}

    def reset_membrane(self, h: Any, s: Any, threshold: Any) -> Any:
        """Hard reset ``s·v_reset + (1 - s)·h``, or soft reset ``h - s·threshold`` when ``v_reset`` is None."""
        if self.v_reset is None:
            return h - s * threshold
        return s * self.vr + (1.0 - s) * h

    def nir_charge(self, p: SimpleNamespace) -> tuple[Any, Any] | None:
        """``(a, b)`` with ``h = v + a·(v_reset - v) + b·x`` for NIR export (``p`` holds float or array values);
        ``None`` when NIR has no equivalent neuron.  May raise ``ValueError`` saying why a value cannot export."""
        return None

    @classmethod
    def variants(cls) -> list[NeuronDynamics]:
        """One declaration per value of the kind's own switches (for kernel tests; common fields at defaults)."""
        return [cls()]

    # -- running on tensors ------------------------------------------------------------------------------------
    def param_views(self, values: Sequence[Any], step_shape: Sequence[int]) -> tuple[Any, ...]:
        """Parameter values that broadcast against one step of ``step_shape``: a per-channel ``[C]`` tensor as
        ``[C, 1, ...]`` (channels are dim 1 of ``[B, C, ...]``), scalars unchanged."""
        if len(values) != len(self.params):
            raise ValueError(f"{type(self).__name__} takes {len(self.params)} parameter values, got {len(values)}")
        return tuple(_view(q, v, tuple(step_shape)) for q, v in zip(self.params, values))

    def step(self, x: torch.Tensor, states: Sequence[Any], params: Sequence[Any]) -> tuple[torch.Tensor, tuple]:
        """One torch step from ``states`` (in :attr:`states` order) with broadcastable ``params`` (see
        :meth:`param_views`): ``(spike, next states)``, differentiable through the surrogate."""
        st = SimpleNamespace(**dict(zip(self.state_names, states)))
        p = SimpleNamespace(**{q.name: v for q, v in zip(self.params, params)})
        c = SimpleNamespace(**self.charge(x, st, p))
        s = self.surrogate(c.v - self.threshold(c, p))
        new = self.reset(c, s.detach() if self.detach_reset else s, p)
        return s, tuple(new[n] for n in self.state_names)


def _view(param: Param, value: Any, shape: tuple[int, ...]) -> Any:
    if not param.per_channel:
        if isinstance(value, torch.Tensor) and value.dim() != 0:
            raise ValueError(f"parameter {param.name!r} is a scalar, got a tensor of shape {tuple(value.shape)}")
        return value
    if not isinstance(value, torch.Tensor) or value.dim() != 1 or len(shape) < 2 or shape[1] != len(value):
        got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise ValueError(
            f"per-channel parameter {param.name!r} needs a [C] tensor for steps [B, C, ...]; got {got} for a step "
            f"of shape {shape}"
        )
    return value.reshape(-1, *[1] * (len(shape) - 2))

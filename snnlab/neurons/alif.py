"""The adaptive-threshold LIF of Bellec et al.'s LSNN / e-prop, registered as ``alif``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from snnlab import registry
from snnlab.math.dynamics import NeuronDynamics, Param, State
from snnlab.neurons.base import BaseNode
from snnlab.validate import positive, real


@dataclass(frozen=True)
class AdaptiveLIFDynamics(NeuronDynamics):
    """LIF whose threshold rises by ``beta`` per spike and relaxes by ``rho`` per step (Bellec et al., "A
    solution to the learning dilemma for recurrent networks of spiking neurons", Nat. Commun. 2020)::

        h  = v + (x - (v - v_reset))·decay          LIF charge, decay = 1/τ
        A  = v_threshold + beta·a                   effective threshold
        s  = Θ(h - A)
        v' = s·v_reset + (1 - s)·h  or  h - s·A     hard or soft reset
        a' = rho·a + s                              rho = exp(-1/τ_a)
    """

    states = (State("v"), State("a"))
    params = (Param("decay"), Param("rho"), Param("beta"))

    def charge(self, x: Any, st: SimpleNamespace, p: SimpleNamespace) -> dict[str, Any]:
        return {"v": st.v + (x - (st.v - self.vr)) * p.decay, "a": st.a}

    def threshold(self, c: SimpleNamespace, p: SimpleNamespace) -> Any:
        return self.v_threshold + p.beta * c.a

    def reset(self, c: SimpleNamespace, s: Any, p: SimpleNamespace) -> dict[str, Any]:
        return {"v": self.reset_membrane(c.v, s, self.threshold(c, p)), "a": p.rho * c.a + s}


@registry.register("neuron", "alif")
class AdaptiveLIF(BaseNode):
    """Adaptive-threshold LIF (see :class:`AdaptiveLIFDynamics`): membrane time constant ``tau > 1``,
    adaptation time constant ``tau_a > 0`` and threshold increase ``beta >= 0`` per spike.  The adaptation
    ``a`` is a state like ``v`` (``neuron.a``).  Other arguments as :class:`~snnlab.neurons.BaseNode`."""

    Dynamics = AdaptiveLIFDynamics

    def __init__(self, tau: float = 2.0, tau_a: float = 20.0, beta: float = 0.2, **kwargs: Any) -> None:
        owner = type(self).__name__
        tau = real(tau, "tau", owner, low=1.0, low_open=True)
        tau_a, beta = positive(tau_a, "tau_a", owner), real(beta, "beta", owner, low=0.0)
        super().__init__(**kwargs)
        self.tau, self.tau_a, self.beta = tau, tau_a, beta

    def param_values(self) -> dict[str, Any]:
        return {"decay": 1.0 / self.tau, "rho": math.exp(-1.0 / self.tau_a), "beta": self.beta}

    def extra_repr(self) -> str:
        return f"tau={self.tau:g}, tau_a={self.tau_a:g}, beta={self.beta:g}, {super().extra_repr()}"

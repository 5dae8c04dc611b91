"""The current-based LIF neuron (a synaptic current between input and membrane), registered as ``cuba_lif``."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from snnlab import registry
from snnlab.math.dynamics import NeuronDynamics, Param, State
from snnlab.neurons.base import BaseNode
from snnlab.validate import real


@dataclass(frozen=True)
class CUBALIFDynamics(NeuronDynamics):
    """The input charges a synaptic current ``i`` that charges the membrane (``i`` being the new current);
    fire and reset as LIF::

        i ← i·alpha + x                         alpha = 1 - 1/τ_syn
        h = v + (i - (v - v_reset))·decay       decay = 1/τ_mem
    """

    states = (State("i"), State("v"))
    params = (Param("alpha"), Param("decay"))

    def charge(self, x: Any, st: SimpleNamespace, p: SimpleNamespace) -> dict[str, Any]:
        i = st.i * p.alpha + x
        return {"i": i, "v": st.v + (i - (st.v - self.vr)) * p.decay}


@registry.register("neuron", "cuba_lif")
class CUBALIF(BaseNode):
    """Current-based LIF (see :class:`CUBALIFDynamics`): synaptic time constant ``tau_syn >= 1`` (1: no
    synaptic memory, plain LIF) and membrane time constant ``tau_mem > 1``.  The current ``i`` is a state like
    ``v`` (``neuron.i``).  Other arguments as :class:`~snnlab.neurons.BaseNode`."""

    Dynamics = CUBALIFDynamics

    def __init__(self, tau_syn: float = 2.0, tau_mem: float = 2.0, **kwargs: Any) -> None:
        owner = type(self).__name__
        tau_syn = real(tau_syn, "tau_syn", owner, low=1.0)
        tau_mem = real(tau_mem, "tau_mem", owner, low=1.0, low_open=True)
        super().__init__(**kwargs)
        self.tau_syn, self.tau_mem = tau_syn, tau_mem

    def param_values(self) -> dict[str, Any]:
        return {"alpha": 1.0 - 1.0 / self.tau_syn, "decay": 1.0 / self.tau_mem}

    def extra_repr(self) -> str:
        return f"tau_syn={self.tau_syn:g}, tau_mem={self.tau_mem:g}, {super().extra_repr()}"

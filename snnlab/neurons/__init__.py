"""Spiking neurons."""

from snnlab.neurons.base import BaseNode
from snnlab.neurons.dynamics import NeuronDynamics
from snnlab.neurons.nodes import IF, LIF, PLIF, RIF
from snnlab.neurons.ottt import OTTTLIF

NEURONS: dict[str, type[BaseNode]] = {"if": IF, "lif": LIF, "plif": PLIF, "rif": RIF}

__all__ = ["IF", "LIF", "NEURONS", "OTTTLIF", "PLIF", "RIF", "BaseNode", "NeuronDynamics"]

"""Spiking neurons (each registered as a ``neuron`` component)."""

from snnlab.neurons.base import BaseNode
from snnlab.neurons.nodes import IF, LIF, PLIF, RIF
from snnlab.neurons.ottt import OTTTLIF

__all__ = ["IF", "LIF", "OTTTLIF", "PLIF", "RIF", "BaseNode"]

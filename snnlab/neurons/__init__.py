"""Spiking neurons (each registered as a ``neuron`` component)."""

from snnlab.neurons.alif import AdaptiveLIF
from snnlab.neurons.base import BaseNode
from snnlab.neurons.cuba import CUBALIF
from snnlab.neurons.nodes import IF, LIF, PLIF, RIF
from snnlab.neurons.ottt import OTTTLIF

__all__ = ["CUBALIF", "IF", "LIF", "OTTTLIF", "PLIF", "RIF", "AdaptiveLIF", "BaseNode"]

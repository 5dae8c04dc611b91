"""Measurements of a network beyond accuracy (energy proxies: :mod:`snnlab.metrics.energy`)."""

from snnlab.metrics.energy import EnergyMeter, footprint_bytes

__all__ = ["EnergyMeter", "footprint_bytes"]

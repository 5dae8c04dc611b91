"""Measurements of a network beyond accuracy (energy proxies: :mod:`snnlab.metrics.energy`)."""

from snnlab.metrics.energy import E_AC_PJ, E_MAC_PJ, EnergyMeter, energy_mj, footprint_bytes

__all__ = ["E_AC_PJ", "E_MAC_PJ", "EnergyMeter", "energy_mj", "footprint_bytes"]

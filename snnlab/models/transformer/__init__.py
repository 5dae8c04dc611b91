"""Spiking transformers: the ``transformer`` model and its ``stem`` and ``token_mixer`` components."""

from snnlab.models.transformer.mixers import SDSA, SSA, QKToken, RandomQK, TokenMixer
from snnlab.models.transformer.network import SpikingTransformer, transformer
from snnlab.models.transformer.stems import SPS, HierarchicalEmbed, MembraneSPS, Stem

__all__ = [
    "SDSA",
    "SPS",
    "SSA",
    "HierarchicalEmbed",
    "MembraneSPS",
    "QKToken",
    "RandomQK",
    "SpikingTransformer",
    "Stem",
    "TokenMixer",
    "transformer",
]

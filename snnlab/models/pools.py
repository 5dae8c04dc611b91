"""2×2 pooling for model builders (the ``pool`` components): ``pool: {_target_: avg, ceil_mode: false}``.

A pool object makes its layer (kernel 2, stride 2) and knows the ``(h, w)`` it gives.  ``ceil_mode=True`` never
shrinks a map below 1×1 (any input size works); ``false`` floors odd sizes as the papers' code does (34 → 17 → 8).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import nn

from snnlab import layers, registry
from snnlab.validate import boolean


@dataclass(frozen=True, kw_only=True)
class Pool:
    """The base of the 2×2 pools."""

    ceil_mode: bool = True
    layer_class: ClassVar[type[nn.Module]]

    def __post_init__(self) -> None:
        boolean(self.ceil_mode, "ceil_mode", type(self).__name__)

    def layer(self) -> nn.Module:
        """A fresh pooling layer."""
        return self.layer_class(2, ceil_mode=self.ceil_mode)

    def out_size(self, hw: tuple[int, int]) -> tuple[int, int]:
        """The ``(h, w)`` of the pooled map of an ``hw`` map."""
        rnd = 1 if self.ceil_mode else 0
        return (hw[0] + rnd) // 2, (hw[1] + rnd) // 2


@registry.register("pool", "max")
@dataclass(frozen=True, kw_only=True)
class MaxPool(Pool):
    """2×2 max pooling."""

    layer_class = layers.MaxPool2d


@registry.register("pool", "avg")
@dataclass(frozen=True, kw_only=True)
class AvgPool(Pool):
    """2×2 average pooling."""

    layer_class = layers.AvgPool2d

"""Regularisation choices for model builders (the ``dropout`` components).

A dropout factory gives a builder ``dropout()``, placed after a hidden layer's neuron, and
``linear(in, out)`` for hidden fully connected layers (DropConnect replaces the linear layer itself).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from snnlab import layers, registry


@registry.register("dropout", "none")
@dataclass(frozen=True, kw_only=True)
class DropoutFactory:
    """No regularisation; the base of every dropout factory."""

    def __call__(self) -> nn.Module:
        """What follows a hidden neuron."""
        return layers.Identity(step_mode="m")

    def linear(self, in_features: int, out_features: int, bias: bool = True) -> nn.Module:
        """A hidden fully connected layer."""
        return layers.Linear(in_features, out_features, bias=bias, step_mode="m")


@registry.register("dropout", "dropout")
@dataclass(frozen=True, kw_only=True)
class SpikingDropout(DropoutFactory):
    """Spiking dropout after hidden FC neurons: one mask per sequence, reused at every step."""

    p: float = 0.5

    def __call__(self) -> nn.Module:
        return layers.Dropout(self.p, step_mode="m")


@registry.register("dropout", "dropconnect")
@dataclass(frozen=True, kw_only=True)
class DropConnect(DropoutFactory):
    """DropConnect hidden FC layers (weights dropped; Gaussian moment matching at inference)."""

    p: float = 0.5
    samples_num: int = 1024
    invariant: bool = False

    def linear(self, in_features: int, out_features: int, bias: bool = True) -> nn.Module:
        return layers.DropConnectLinear(
            in_features,
            out_features,
            bias,
            p=self.p,
            samples_num=self.samples_num,
            invariant=self.invariant,
            activation=None,
            step_mode="m",
        )

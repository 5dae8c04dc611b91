"""Regularisation choices for model builders (the ``dropout`` components).

A dropout factory gives a builder ``dropout()``, placed after a hidden layer's neuron, and
``linear(in, out)`` for hidden fully connected layers (DropConnect replaces the linear layer itself).  A family
without such places refuses a factory that needs them (:meth:`~DropoutFactory.require_positions`) instead of
ignoring it.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from snnlab import layers, registry
from snnlab.validate import InvalidArgument


@registry.register("dropout", "none")
@dataclass(frozen=True, kw_only=True)
class DropoutFactory:
    """No regularisation; the base of every dropout factory."""

    def __call__(self) -> nn.Module:
        """What follows a hidden neuron."""
        return layers.Identity()

    def linear(self, in_features: int, out_features: int, bias: bool = True) -> nn.Module:
        """A hidden fully connected layer."""
        return layers.Linear(in_features, out_features, bias=bias)

    def require_positions(self, owner: str, *, after_neurons: bool, hidden_fc: bool) -> None:
        """Refuse to be ignored: raise when ``owner`` has no place for what this factory makes (its ``dropout()``
        where no layer follows hidden neurons, its ``linear`` where there is no hidden FC layer)."""
        kind = type(self)
        missing = [
            where
            for where, used, present in (
                ("no dropout layer after hidden neurons", kind.__call__ is not DropoutFactory.__call__, after_neurons),
                ("no hidden FC layer", kind.linear is not DropoutFactory.linear, hidden_fc),
            )
            if used and not present
        ]
        if missing:
            raise InvalidArgument(
                "dropout", self, f"{owner} has no dropout positions ({', '.join(missing)}); use dropout=none"
            )


@registry.register("dropout", "dropout")
@dataclass(frozen=True, kw_only=True)
class SpikingDropout(DropoutFactory):
    """Spiking dropout after hidden FC neurons: one mask per sequence, reused at every step."""

    p: float = 0.5

    def __call__(self) -> nn.Module:
        return layers.Dropout(self.p)


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
        )

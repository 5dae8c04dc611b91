"""Weight initialisations for model builders (the ``init`` components): ``init: {_target_: kaiming_fan_out}``.

An init object re-initialises a built network's layers in place; a builder's ``init=None`` (or ``default``)
keeps torch's own initialisation.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from snnlab import registry
from snnlab.validate import InvalidArgument, positive


@registry.register("init", "default")
@dataclass(frozen=True, kw_only=True)
class Init:
    """torch's own initialisation (each layer's default); the base of every init."""

    def __call__(self, net: nn.Module) -> nn.Module:
        """Re-initialise every module of ``net`` in place; returns ``net``."""
        net.apply(self.module)
        return net

    def module(self, m: nn.Module) -> None:
        """Re-initialise the parameters of ``m`` itself (not of its children)."""


@registry.register("init", "kaiming_fan_out")
@dataclass(frozen=True, kw_only=True)
class KaimingFanOut(Init):
    """Conv weights Kaiming-normal, fan-out, ReLU gain: ``std = sqrt(2 / fan_out)`` (torchvision ResNet, SEW, TET)."""

    def module(self, m: nn.Module) -> None:
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")


@registry.register("init", "vgg")
@dataclass(frozen=True, kw_only=True)
class VGGInit(KaimingFanOut):
    """Convs as ``kaiming_fan_out``, linear weights ``N(0, 0.01)``, all biases zero (torchvision VGG, OTTT)."""

    def module(self, m: nn.Module) -> None:
        super().module(m)
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
        if isinstance(m, (nn.Conv2d, nn.Linear)) and m.bias is not None:
            nn.init.zeros_(m.bias)


@registry.register("init", "xavier_uniform")
@dataclass(frozen=True, kw_only=True)
class XavierUniform(Init):
    """Conv and linear weights Xavier-uniform with ``gain`` (BNTT: gain 2); biases as torch makes them."""

    gain: float = 1.0

    def __post_init__(self) -> None:
        positive(self.gain, "gain", "xavier_uniform")

    def module(self, m: nn.Module) -> None:
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight, gain=self.gain)


@registry.register("init", "trunc_normal")
@dataclass(frozen=True, kw_only=True)
class TruncNormal(Init):
    """Weights from a normal of std ``std`` cut at ±2, absolute, as timm's ``trunc_normal_``, biases zero, on the layer
    types in ``layers`` (``linear``, ``conv``: 1-D and 2-D convs); the spiking transformers' initialisation."""

    std: float = 0.02
    layers: tuple[str, ...] = ("linear",)

    def __post_init__(self) -> None:
        positive(self.std, "std", "trunc_normal")
        bad = [name for name in self.layers if name not in _LAYER_TYPES]
        if bad or isinstance(self.layers, str):
            raise InvalidArgument("layers", self.layers, f"must be a list of {', '.join(_LAYER_TYPES)}", "trunc_normal")

    def module(self, m: nn.Module) -> None:
        if isinstance(m, tuple(t for name in self.layers for t in _LAYER_TYPES[name])):
            nn.init.trunc_normal_(m.weight, std=self.std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


_LAYER_TYPES: dict[str, tuple[type[nn.Module], ...]] = {"linear": (nn.Linear,), "conv": (nn.Conv1d, nn.Conv2d)}

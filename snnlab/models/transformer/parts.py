"""The pieces the spiking transformers share: token-wise projections, residual branches, the MLPs.

Feature maps stay ``[..., C, H, W]`` (``[T, B, C, H, W]`` in multi-step mode, ``[B, C, H, W]`` per step); a token
is one ``(h, w)`` position.  Every piece is built from the run's neuron and norm factories.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from snnlab import layers
from snnlab.models.blocks import NeuronFactory
from snnlab.models.norms import NormFactory
from snnlab.validate import one_of

PROJECTIONS = ("linear", "conv")


class TokenLinear(nn.Linear):
    """``nn.Linear`` applied to every token of ``[..., C, H, W]`` maps (the channel axis is ``channel_dim``); the same
    map as a 1×1 conv, with the weight layout of the Spikformer CIFAR code's ``nn.Linear`` layers."""

    channel_dim = -3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x.movedim(-3, -1), self.weight, self.bias).movedim(-1, -3)


@dataclass(frozen=True)
class Parts:
    """What every transformer piece is built from: neuron and norm factories and the projection kind."""

    make_neuron: NeuronFactory
    norm: NormFactory
    projection: str = "conv"

    def __post_init__(self) -> None:
        one_of(self.projection, PROJECTIONS, "projection", "transformer")

    def pointwise(self, in_ch: int, out_ch: int, bias: bool) -> nn.Module:
        """A token-wise projection: ``TokenLinear`` (``projection: linear``) or a 1×1 conv (``conv``)."""
        if self.projection == "linear":
            return TokenLinear(in_ch, out_ch, bias=bias)
        return layers.Conv2d(in_ch, out_ch, 1, bias=bias)

    def conv_norm(self, in_ch: int, out_ch: int, bias: bool, kernel_size: int = 3, stride: int = 1) -> list[nn.Module]:
        """``conv (same padding) → norm``."""
        conv = layers.Conv2d(in_ch, out_ch, kernel_size, stride, kernel_size // 2, bias=bias)
        return [conv, self.norm.pre(out_ch)]

    def project(self, in_ch: int, out_ch: int, bias: bool, spike: bool = True) -> nn.Sequential:
        """``pointwise → norm`` and, with ``spike``, ``→ neuron``."""
        tail = [self.make_neuron()] if spike else []
        return nn.Sequential(self.pointwise(in_ch, out_ch, bias), self.norm.pre(out_ch), *tail)

    def neuron(self, **overrides: float) -> nn.Module:
        """A fresh neuron of the run's kind (``overrides``, e.g. ``v_threshold``, replace its settings)."""
        return self.make_neuron(**overrides)


class Residual(nn.Module):
    """``main(x) + branch(x)``; without ``main``, ``x + branch(x)``."""

    def __init__(self, branch: nn.Module, main: nn.Module | None = None) -> None:
        super().__init__()
        self.main = main or layers.Identity()
        self.branch = branch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x) + self.branch(x)


def spike_mlp(dim: int, hidden: int, parts: Parts, bias: bool) -> nn.Sequential:
    """The MLP of the spike-adding blocks: ``(pointwise → norm → neuron) × 2`` (Spikformer, QKFormer)."""
    return nn.Sequential(*parts.project(dim, hidden, bias), *parts.project(hidden, dim, bias))


def membrane_mlp(dim: int, hidden: int, parts: Parts, bias: bool) -> list[nn.Module]:
    """The MLP of the membrane-shortcut blocks, as residual modules: ``neuron → pointwise → norm`` twice, the second
    added to the first's sum when ``hidden == dim`` (the Spike-driven Transformer's ``MS_MLP_Conv``)."""
    first = nn.Sequential(parts.make_neuron(), *parts.project(dim, hidden, bias, spike=False))
    second = nn.Sequential(parts.make_neuron(), *parts.project(hidden, dim, bias, spike=False))
    if hidden == dim:
        return [Residual(first), Residual(second)]
    return [Residual(nn.Sequential(*first, *second))]

"""Normalisation choices for model builders (the ``norm`` components).

A norm factory gives a builder two places to put normalisation, so no builder branches on a norm's name:
``pre(channels, dims)`` between a conv (``dims=2``) or linear (``dims=1``) layer and its neuron (BN, tdBN,
TEBN, BNTT), and ``post(channels, height, width)`` right after the neuron (NeuNorm).  The layer that does
not apply is an identity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from snnlab import layers, registry


def _identity() -> nn.Module:
    return layers.Identity()


@registry.register("norm", "none")
@dataclass(frozen=True, kw_only=True)
class NormFactory:
    """No normalisation; the base of every norm factory."""

    def pre(self, channels: int, dims: int = 2, residual: bool = False) -> nn.Module:
        """The norm of a conv (``dims=2``) or linear (``dims=1``) output; ``residual`` marks a branch end."""
        return _identity()

    def post(self, channels: int, height: int | None = None, width: int | None = None) -> nn.Module:
        """The norm after a neuron over ``[C, H, W]`` maps (or ``[C]`` features when ``height`` is ``None``)."""
        return _identity()


@registry.register("norm", "bn")
@dataclass(frozen=True, kw_only=True)
class BN(NormFactory):
    """Batch norm with statistics over ``T·B`` (and space) jointly."""

    eps: float = 1e-5
    momentum: float = 0.1
    classes = (layers.BatchNorm1d, layers.BatchNorm2d)

    def leading_args(self, residual: bool) -> tuple[float, ...]:
        """The arguments the layer class takes before ``num_features``."""
        return ()

    def pre(self, channels: int, dims: int = 2, residual: bool = False) -> nn.Module:
        if dims not in (1, 2):
            raise ValueError(f"{type(self).__name__}.pre: dims must be 1 or 2, got {dims}")
        cls = self.classes[dims - 1]
        return cls(*self.leading_args(residual), channels, eps=self.eps, momentum=self.momentum)


@registry.register("norm", "tdbn")
@dataclass(frozen=True, kw_only=True)
class TdBN(BN):
    """Threshold-dependent BN scaled to ``α·v_th``; the last norm of a residual branch uses ``α/√2``."""

    alpha: float = 1.0
    v_th: float = 1.0
    classes = (layers.ThresholdDependentBatchNorm1d, layers.ThresholdDependentBatchNorm2d)

    def leading_args(self, residual: bool) -> tuple[float, ...]:
        return (self.alpha / math.sqrt(2.0) if residual else self.alpha, self.v_th)


@registry.register("norm", "tebn")
@dataclass(frozen=True, kw_only=True)
class TEBN(BN):
    """Temporal effective BN: BN over ``T·B``, then a learnt scale per time step."""

    T: int
    classes = (layers.TemporalEffectiveBatchNorm1d, layers.TemporalEffectiveBatchNorm2d)

    def leading_args(self, residual: bool) -> tuple[float, ...]:
        return (self.T,)


@registry.register("norm", "bntt")
@dataclass(frozen=True, kw_only=True)
class BNTT(TEBN):
    """BN through time: one BN per time step; ``bias=False`` drops the learnt shift (as the BNTT reference code)."""

    bias: bool = True
    classes = (layers.BatchNormThroughTime1d, layers.BatchNormThroughTime2d)

    def pre(self, channels: int, dims: int = 2, residual: bool = False) -> nn.Module:
        layer = super().pre(channels, dims, residual)
        if not self.bias:
            for bn in layer.bns:
                bn.bias = None
        return layer


class _Unsqueeze2d(nn.Module):
    """Run a ``[..., C, H, W]`` layer on ``[..., F]`` features as ``F`` channels of size 1×1."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x[..., None, None])[..., 0, 0]


@registry.register("norm", "neunorm")
@dataclass(frozen=True, kw_only=True)
class NeuNorm(NormFactory):
    """NeuNorm after every neuron: subtracts a decaying mean of the layer's spikes (decay ``k``)."""

    k: float = 0.9
    shared: bool = False

    def post(self, channels: int, height: int | None = None, width: int | None = None) -> nn.Module:
        spatial = height is not None and width is not None
        neunorm = layers.NeuNorm(channels, height or 1, width or 1, k=self.k, shared_across_channels=self.shared)
        return neunorm if spatial else _Unsqueeze2d(neunorm)

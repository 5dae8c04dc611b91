"""Factories that hand model builders their spiking parts, so no builder ever branches on a layer's name.

* ``make_neuron()`` -- a fresh spiking neuron;
* :class:`NormFactory` -- ``pre(channels)`` goes between a conv/linear layer and its neuron (BN, tdBN, TEBN,
  BNTT), ``post(channels, h, w)`` right after the neuron (NeuNorm);
* :class:`DropoutFactory` -- ``dropout()`` after a hidden layer's neuron and ``linear(in, out)`` for hidden
  fully connected layers (DropConnect replaces the linear layer itself).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from snnlab import layers
from snnlab.instantiate import instantiate
from snnlab.neurons import LIF

NORMS = ("none", "bn", "tdbn", "tebn", "bntt", "neunorm")
MULTI_STEP_ONLY_NORMS = ("tdbn", "tebn")
DROPOUTS = ("none", "dropout", "dropconnect")

NeuronFactory = Callable[[], nn.Module]


def default_neuron() -> nn.Module:
    """The neuron used when a builder is called without ``make_neuron``: LIF(τ=2), multi-step."""
    return LIF(tau=2.0, step_mode="m")


class _Unsqueeze2d(nn.Module):
    """Run a ``[..., C, H, W]`` layer on ``[..., F]`` features as ``F`` channels of size 1×1."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x[..., None, None])[..., 0, 0]


@dataclass(frozen=True)
class NormFactory:
    """Builds the normalisation layers named ``name`` (one of :data:`NORMS`).

    ``T`` is the run's number of time steps (TEBN, BNTT), ``v_th`` the neuron threshold (tdBN), ``alpha``
    tdBN's α (residual branches get ``alpha/√2``), ``k`` and ``shared`` NeuNorm's decay and weight sharing.
    """

    name: str = "none"
    T: int = 1
    v_th: float = 1.0
    alpha: float = 1.0
    eps: float = 1e-5
    momentum: float = 0.1
    k: float = 0.9
    shared: bool = False

    def __post_init__(self) -> None:
        if self.name not in NORMS:
            raise ValueError(f"unknown norm {self.name!r}; valid: {NORMS}")

    def pre(self, channels: int, dims: int = 2, residual: bool = False) -> nn.Module:
        """Normalisation of a conv (``dims=2``) or linear (``dims=1``) output, before the neuron.

        ``residual=True`` marks the last norm of a residual branch (tdBN then scales by ``alpha/√2``).
        """
        if dims not in (1, 2):
            raise ValueError(f"NormFactory.pre: dims must be 1 or 2, got {dims}")
        if self.name not in layers.NORMS:
            return layers.Identity(step_mode="m")
        alpha = self.alpha / math.sqrt(2.0) if residual else self.alpha
        leading = {"bn": (), "tdbn": (alpha, self.v_th), "tebn": (self.T,), "bntt": (self.T,)}[self.name]
        cls = layers.NORMS[self.name][dims]
        return cls(*leading, channels, eps=self.eps, momentum=self.momentum, step_mode="m")

    def post(self, channels: int, height: int | None = None, width: int | None = None) -> nn.Module:
        """Normalisation after the neuron: NeuNorm over ``[C, H, W]`` maps (or ``[F]`` features), else identity."""
        if self.name != "neunorm":
            return layers.Identity(step_mode="m")
        spatial = height is not None and width is not None
        neunorm = layers.NeuNorm(
            channels, height or 1, width or 1, k=self.k, shared_across_channels=self.shared, step_mode="m"
        )
        return neunorm if spatial else _Unsqueeze2d(neunorm)


@dataclass(frozen=True)
class DropoutFactory:
    """Builds the regulariser ``name`` (one of :data:`DROPOUTS`) with drop probability ``p``."""

    name: str = "none"
    p: float = 0.0
    samples_num: int = 1024
    invariant: bool = False

    def __post_init__(self) -> None:
        if self.name not in DROPOUTS:
            raise ValueError(f"unknown dropout {self.name!r}; valid: {DROPOUTS}")
        if not 0.0 <= self.p < 1.0:
            raise ValueError(f"dropout p must be in [0, 1), got {self.p}")

    def __call__(self) -> nn.Module:
        """Spiking dropout (mask fixed over time) after a hidden neuron, or identity."""
        if self.name == "dropout" and self.p > 0:
            return layers.Dropout(self.p, step_mode="m")
        return layers.Identity(step_mode="m")

    def linear(self, in_features: int, out_features: int) -> nn.Module:
        """A hidden fully connected layer: DropConnect when selected, else a plain step-mode linear layer."""
        if self.name == "dropconnect":
            return layers.DropConnectLinear(
                in_features,
                out_features,
                p=self.p,
                samples_num=self.samples_num,
                invariant=self.invariant,
                activation=None,
                step_mode="m",
            )
        return layers.Linear(in_features, out_features, step_mode="m")


def factories_from_config(
    neuron: Mapping[str, Any], norm: Mapping[str, Any], dropout: Mapping[str, Any], T: int, backend: str
) -> dict[str, Any]:
    """Builder keyword arguments (``make_neuron``, ``norm``, ``dropout``) from the config groups of a run.

    ``neuron`` is a ``_target_`` node (``_partial_: true``); ``norm`` and ``dropout`` hold a ``name`` plus
    that layer's options.  Layers are built in step mode ``m``; the caller switches the finished net.
    """
    neuron_cls = instantiate({**neuron, "_partial_": True})
    norm_kw = {k: v for k, v in norm.items() if k != "T"}
    return {
        "make_neuron": functools.partial(neuron_cls, step_mode="m", backend=backend),
        "norm": NormFactory(T=int(norm.get("T", T)), v_th=float(neuron.get("v_threshold", 1.0)), **norm_kw),
        "dropout": DropoutFactory(**dropout),
    }

"""The neuron models: IF, LIF, PLIF (learnable τ) and RIF (learnable self-connection)."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from snnlab import registry
from snnlab.neurons.base import BaseNode


@registry.register("neuron")
class IF(BaseNode):
    """Integrate-and-fire: ``h = v + x``."""

    kind = "if"


@registry.register("neuron")
class LIF(BaseNode):
    """Leaky integrate-and-fire with time constant ``tau > 1``.

    ``decay_input=True``: ``h = v + (x - (v - v_reset)) / τ``; ``False``: ``h = v - (v - v_reset) / τ + x``.
    """

    kind = "lif"

    def __init__(self, tau: float = 2.0, decay_input: bool = True, **kwargs: Any) -> None:
        tau = float(tau)
        if not tau > 1.0:
            raise ValueError(f"{type(self).__name__}: tau must be > 1 (the decay per step is 1/tau), got {tau}")
        super().__init__(**kwargs)
        self.tau = tau
        self.decay_input = bool(decay_input)

    @property
    def theta(self) -> float:
        return 1.0 / self.tau

    def extra_repr(self) -> str:
        return f"tau={self.tau:g}, decay_input={self.decay_input}, {super().extra_repr()}"


@registry.register("neuron")
class PLIF(BaseNode):
    """Parametric LIF: LIF with ``1/τ = sigmoid(w)``, ``w`` one learnable scalar initialised from ``init_tau``."""

    kind = "lif"

    def __init__(self, init_tau: float = 2.0, decay_input: bool = True, **kwargs: Any) -> None:
        init_tau = float(init_tau)
        if not init_tau > 1.0:
            raise ValueError(f"{type(self).__name__}: init_tau must be > 1, got {init_tau}")
        super().__init__(**kwargs)
        self.decay_input = bool(decay_input)
        self.w = nn.Parameter(torch.tensor(-math.log(init_tau - 1.0)))

    @property
    def theta(self) -> torch.Tensor:
        return self.w.sigmoid()

    @property
    def tau(self) -> float:
        """Current time constant ``1 / sigmoid(w)``."""
        return 1.0 / self.w.detach().sigmoid().item()

    def extra_repr(self) -> str:
        return f"tau={self.tau:.4g}, decay_input={self.decay_input}, {super().extra_repr()}"


@registry.register("neuron")
class RIF(BaseNode):
    """Recurrent IF: ``h = v + w·(v - v_reset) + x`` with a learnable self-connection ``w`` (init ``init_w``)."""

    kind = "rif"

    def __init__(self, init_w: float = -1e-3, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.w = nn.Parameter(torch.tensor(float(init_w)))

    @property
    def theta(self) -> torch.Tensor:
        return self.w

    def extra_repr(self) -> str:
        return f"w={self.w.item():.4g}, {super().extra_repr()}"

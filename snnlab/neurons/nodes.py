"""The neuron models IF, LIF, PLIF (learnable τ) and RIF (learnable self-connection), and their declarations."""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import torch
from torch import nn

from snnlab import registry
from snnlab.math.dynamics import NeuronDynamics, Param
from snnlab.neurons.base import BaseNode
from snnlab.validate import boolean, positive_int, real


@dataclass(frozen=True)
class IFDynamics(NeuronDynamics):
    """Integrate-and-fire: ``h = v + x``."""

    def charge(self, x: Any, st: SimpleNamespace, p: SimpleNamespace) -> dict[str, Any]:
        return {"v": st.v + x}

    def nir_charge(self, p: SimpleNamespace) -> tuple[float, float]:
        return 0.0, 1.0


@dataclass(frozen=True)
class LIFDynamics(NeuronDynamics):
    """Leaky integrate-and-fire with decay ``d`` (``1/τ``), one scalar or one per channel (``per_channel``).

    ``decay_input``: ``h = v + (x - (v - v_reset))·d``; else ``h = v - (v - v_reset)·d + x``.
    """

    decay_input: bool = True
    per_channel: bool = False

    @property
    def params(self) -> tuple[Param, ...]:
        return (Param("decay", self.per_channel),)

    def charge(self, x: Any, st: SimpleNamespace, p: SimpleNamespace) -> dict[str, Any]:
        if self.decay_input:
            return {"v": st.v + (x - (st.v - self.vr)) * p.decay}
        return {"v": st.v - (st.v - self.vr) * p.decay + x}

    def nir_charge(self, p: SimpleNamespace) -> tuple[Any, Any]:
        return p.decay, p.decay if self.decay_input else 1.0

    @classmethod
    def variants(cls) -> list[NeuronDynamics]:
        return [cls(decay_input=True), cls(decay_input=False), cls(per_channel=True)]


@dataclass(frozen=True)
class RIFDynamics(NeuronDynamics):
    """Recurrent IF: ``h = v + w·(v - v_reset) + x`` with the self-connection ``w``."""

    params = (Param("w"),)

    def charge(self, x: Any, st: SimpleNamespace, p: SimpleNamespace) -> dict[str, Any]:
        return {"v": st.v + (st.v - self.vr) * p.w + x}

    def nir_charge(self, p: SimpleNamespace) -> tuple[float, float]:
        if p.w > 0:
            raise ValueError(f"self-connection w={p.w:.4g} > 0 grows the potential; NIR has no such neuron")
        return -p.w, 1.0


@registry.register("neuron")
class IF(BaseNode):
    """Integrate-and-fire: ``h = v + x``."""

    Dynamics = IFDynamics


@registry.register("neuron")
class LIF(BaseNode):
    """Leaky integrate-and-fire with time constant ``tau > 1``.

    ``decay_input=True``: ``h = v + (x - (v - v_reset)) / τ``; ``False``: ``h = v - (v - v_reset) / τ + x``.
    """

    Dynamics = LIFDynamics

    def __init__(self, tau: float = 2.0, decay_input: bool = True, **kwargs: Any) -> None:
        owner = type(self).__name__
        tau = real(tau, "tau", owner, low=1.0, low_open=True)
        decay_input = boolean(decay_input, "decay_input", owner)
        super().__init__(**kwargs)
        self.tau, self.decay_input = tau, decay_input

    def dynamics_options(self) -> dict[str, Any]:
        return {"decay_input": self.decay_input}

    def param_values(self) -> dict[str, Any]:
        return {"decay": 1.0 / self.tau}

    def extra_repr(self) -> str:
        return f"tau={self.tau:g}, decay_input={self.decay_input}, {super().extra_repr()}"


@registry.register("neuron")
class PLIF(BaseNode):
    """Parametric LIF: LIF with ``1/τ = sigmoid(w)``, ``w`` learnable and initialised from ``init_tau``: one
    scalar, or one per channel (dim 1 of ``[B, C, ...]`` steps) with ``channels=C``."""

    Dynamics = LIFDynamics

    def __init__(
        self, init_tau: float = 2.0, decay_input: bool = True, channels: int | None = None, **kwargs: Any
    ) -> None:
        owner = type(self).__name__
        init_tau = real(init_tau, "init_tau", owner, low=1.0, low_open=True)
        decay_input = boolean(decay_input, "decay_input", owner)
        channels = None if channels is None else positive_int(channels, "channels", owner)
        super().__init__(**kwargs)
        self.decay_input = decay_input
        self.w = nn.Parameter(torch.full(() if channels is None else (channels,), -math.log(init_tau - 1.0)))

    def dynamics_options(self) -> dict[str, Any]:
        return {"decay_input": self.decay_input, "per_channel": self.w.dim() == 1}

    def param_values(self) -> dict[str, Any]:
        return {"decay": self.w.sigmoid()}

    @property
    def tau(self) -> float | torch.Tensor:
        """Current time constant ``1 / sigmoid(w)`` (a ``[C]`` tensor when per channel)."""
        tau = 1.0 / self.w.detach().sigmoid()
        return tau.item() if tau.dim() == 0 else tau

    def extra_repr(self) -> str:
        tau = f"tau={self.tau:.4g}" if self.w.dim() == 0 else f"channels={len(self.w)}"
        return f"{tau}, decay_input={self.decay_input}, {super().extra_repr()}"


@registry.register("neuron")
class RIF(BaseNode):
    """Recurrent IF: ``h = v + w·(v - v_reset) + x`` with a learnable self-connection ``w`` (init ``init_w``)."""

    Dynamics = RIFDynamics

    def __init__(self, init_w: float = -1e-3, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.w = nn.Parameter(torch.tensor(real(init_w, "init_w", type(self).__name__)))

    def param_values(self) -> dict[str, Any]:
        return {"w": self.w}

    def extra_repr(self) -> str:
        return f"w={self.w.item():.4g}, {super().extra_repr()}"

"""LIF neuron for online training through time (OTTT), single-step only."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from snnlab.neurons.nodes import LIF


class OTTTLIF(LIF):
    """LIF with soft reset whose membrane is detached between steps, so no graph spans time.

    In training each step returns ``[spike, trace]`` with the presynaptic trace
    ``a_t = (1 - 1/τ)·a_{t-1} + s_t`` (``a_{t-1}`` detached, the gradient reaches ``s_t``); wrap the following
    layers in :class:`snnlab.layers.OTTTSequential`.  In eval it returns spikes only.
    Other arguments as :class:`~snnlab.neurons.LIF` (``v_reset`` is fixed to ``None``).
    """

    step_modes: ClassVar[tuple[str, ...]] = ("s",)

    def __init__(self, tau: float = 2.0, decay_input: bool = True, **kwargs: Any) -> None:
        if kwargs.pop("v_reset", None) is not None:
            raise ValueError("OTTTLIF uses soft reset; v_reset must be None")
        super().__init__(tau=tau, decay_input=decay_input, v_reset=None, **kwargs)
        self.register_memory("trace", 0.0)

    def single_step_forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        self.v = self.state_like("v", x).detach()
        s = super().single_step_forward(x)
        if not self.training:
            return s
        trace = self.state_like("trace", s).detach() * (1.0 - 1.0 / self.tau) + s
        self.trace = trace.detach()
        return [s, trace]

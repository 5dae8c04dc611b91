"""The online LIF neuron of OTTT (Xiao et al., NeurIPS 2022): single-step, registered as ``ottt_lif``."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from snnlab import registry
from snnlab.neurons.nodes import LIF
from snnlab.validate import InvalidArgument


@registry.register("neuron", "ottt_lif")
class OTTTLIF(LIF):
    """LIF with soft reset whose membrane is detached between steps, so no graph spans time.

    In training each step returns ``[spike, trace]`` with the presynaptic trace
    ``a_t = (1 - 1/τ)·a_{t-1} + s_t`` (``a_{t-1}`` detached, the gradient reaches ``s_t``); the layers after it
    must route the pair (:class:`snnlab.layers.OTTTSequential`; ``learning=ottt`` converts a network's
    ``nn.Sequential`` containers).  In eval it returns spikes only.

    Defaults follow the official OTTT code's ``OnlineLIFNode``: ``tau=2``, ``decay_input=False``
    (``h = v - v/τ + x``), soft reset, ``detach_reset=True``, sigmoid surrogate ``α=4``.  Other arguments as
    :class:`~snnlab.neurons.LIF` (``v_reset`` is fixed to ``None``).  Single-step only: it runs under
    ``learning=ottt``, which feeds the network one time step at a time.
    """

    step_modes: ClassVar[tuple[str, ...]] = ("s",)
    step_mode_hint: ClassVar[str] = (
        "it is the online (OTTT) neuron and runs one time step at a time; train it with learning=ottt"
    )
    online: ClassVar[bool] = True
    """Marks a neuron that runs under online learning (no graph across steps, ``[spike, trace]`` in training)."""

    def __init__(self, tau: float = 2.0, decay_input: bool = False, detach_reset: bool = True, **kwargs: Any) -> None:
        v_reset = kwargs.pop("v_reset", None)
        if v_reset is not None:
            raise InvalidArgument("v_reset", v_reset, "must be None: OTTTLIF uses soft reset", type(self).__name__)
        super().__init__(tau=tau, decay_input=decay_input, v_reset=None, detach_reset=detach_reset, **kwargs)
        self.register_memory("trace", 0.0)

    def single_step_forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        self.v = self.state_like("v", x).detach()
        s = super().single_step_forward(x)
        if not self.training:
            return s
        trace = self.state_like("trace", s).detach() * (1.0 - 1.0 / self.tau) + s
        self.trace = trace.detach()
        return [s, trace]

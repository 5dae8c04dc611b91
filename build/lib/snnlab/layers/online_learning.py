"""Online training through time (OTTT): weight gradients from presynaptic traces.

An OTTT neuron (:class:`snnlab.neurons.OTTTLIF`) emits ``[spike, trace]`` in training.  A layer with
parameters then computes its forward value from the spikes but its gradient from the trace, so the weight
gradient at step ``t`` is ``grad_out_t^T · a_t`` (a_t the presynaptic trace) and no graph spans time steps.
Parameter-free layers (pooling, dropout, flatten) are applied to spike and trace alike.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

SpikeTrace = list[torch.Tensor]


class ReplaceforGrad(torch.autograd.Function):
    """``ReplaceforGrad.apply(x, x_r)`` returns the value of ``x_r``; the incoming gradient goes to both."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, x_r: torch.Tensor) -> torch.Tensor:
        return x_r.clone()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return grad, grad


def _is_spike_trace(x: Any) -> bool:
    return isinstance(x, (list, tuple)) and len(x) == 2 and all(isinstance(t, torch.Tensor) for t in x)


def _split(owner: str, x: Any) -> tuple[torch.Tensor, torch.Tensor]:
    if not _is_spike_trace(x):
        raise TypeError(f"{owner} expects [spike, trace] (from an OTTT neuron in training), got {type(x).__name__}")
    return x[0], x[1]


def grad_with_trace(module: nn.Module, spike: torch.Tensor, trace: torch.Tensor) -> torch.Tensor:
    """Value ``module(spike)``, gradient taken through ``module(trace)``."""
    with torch.no_grad():
        out = module(spike)
    return ReplaceforGrad.apply(module(trace), out)


class GradwithTrace(nn.Module):
    """Forward ``module(spike)``, backward as if the input were the trace: ``∂L/∂W = grad_out^T · trace``."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: SpikeTrace) -> torch.Tensor:
        return grad_with_trace(self.module, *_split("GradwithTrace", x))


class SpikeTraceOp(nn.Module):
    """Apply a parameter-free ``module`` to spike and trace alike; returns ``[module(spike), module(trace)]``."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: SpikeTrace) -> SpikeTrace:
        spike, trace = _split("SpikeTraceOp", x)
        return [self.module(spike), self.module(trace)]


class OTTTSequential(nn.Sequential):
    """``nn.Sequential`` that routes ``[spike, trace]`` inputs: modules with parameters run as
    :class:`GradwithTrace`, the others as :class:`SpikeTraceOp`, nested ``OTTTSequential`` containers route the
    pair themselves; plain tensors pass through unchanged (so it equals ``nn.Sequential`` without OTTT neurons)."""

    def forward(self, x: Any) -> Any:
        for module in self:
            if not _is_spike_trace(x) or isinstance(module, OTTTSequential):
                x = module(x)
            elif any(True for _ in module.parameters()):
                x = grad_with_trace(module, x[0], x[1])
            else:
                x = [module(x[0]), module(x[1])]
        return x

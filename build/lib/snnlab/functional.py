"""Whole-network helpers: reset state, set the step mode, set the neuron backend."""

from __future__ import annotations

from torch import nn

from snnlab.base import MemoryModule, StepModule
from snnlab.neurons.base import BaseNode

# torch.nn layers that mis-handle a [T, B, ...] input (they would treat T as the batch).
_BREAK_IN_MULTI_STEP = (
    nn.modules.conv._ConvNd,
    nn.modules.batchnorm._NormBase,
    nn.modules.pooling._MaxPoolNd,
    nn.modules.pooling._AvgPoolNd,
    nn.modules.pooling._AdaptiveAvgPoolNd,
    nn.modules.pooling._AdaptiveMaxPoolNd,
    nn.Flatten,
    nn.Upsample,
    nn.GroupNorm,
)


def reset_net(net: nn.Module) -> None:
    """Reset every stateful module in ``net``."""
    for m in net.modules():
        if isinstance(m, MemoryModule):
            m.reset()


def set_step_mode(net: nn.Module, step_mode: str) -> None:
    """Set ``step_mode`` on every step-mode module of ``net``.

    Raises on a plain ``torch.nn`` layer that would break in mode ``m`` (use its :mod:`snnlab.layers` twin
    or wrap it in :class:`~snnlab.layers.TimeFold`), and on a layer that cannot run in ``step_mode``.
    """
    for name, m in net.named_modules():
        if isinstance(m, StepModule):
            try:
                m.step_mode = step_mode
            except ValueError as e:
                raise ValueError(f"layer {name or 'net'!r}: {e}") from None
        elif step_mode == "m" and isinstance(m, _BREAK_IN_MULTI_STEP) and not _inside_wrapper(net, name):
            raise TypeError(
                f"{name or 'net'} is a plain torch.nn.{type(m).__name__}, which cannot take [T, B, ...] input in "
                f"step mode 'm'; use snnlab.layers.{type(m).__name__} or wrap it in snnlab.layers.TimeFold"
            )


def _inside_wrapper(net: nn.Module, name: str) -> bool:
    """Whether ``name`` sits inside a step module that shapes its torch children's inputs (``TimeFold``, norms)."""
    parts = name.split(".")
    return any(getattr(net.get_submodule(".".join(parts[:i])), "wraps_torch_layers", False) for i in range(len(parts)))


def set_backend(net: nn.Module, backend: str) -> None:
    """Set the multi-step backend of every neuron in ``net`` (raises on an unknown backend)."""
    for m in net.modules():
        if isinstance(m, BaseNode):
            m.backend = backend

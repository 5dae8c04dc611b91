"""Whole-network helpers: reset state, and :func:`configure`, the one place that applies a run's step mode and
neuron backend to a built network (its own layers and foreign ones, such as SpikingJelly's)."""

from __future__ import annotations

from collections import defaultdict

from torch import nn

from snnlab.base import StepModule, check_step_mode
from snnlab.kernels import check_backend
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


def _resets(m: nn.Module) -> bool:
    """Whether ``m`` is stateful: a method ``reset()`` (snnlab's and SpikingJelly's ``MemoryModule``, a user's)."""
    return callable(getattr(type(m), "reset", None))


def reset_net(net: nn.Module) -> None:
    """Reset every stateful module in ``net``: snnlab's and any foreign module with a ``reset()`` method."""
    for m in net.modules():
        if _resets(m):
            m.reset()


def configure(net: nn.Module, step_mode: str, backend: str) -> list[str]:
    """Set the step mode of every step module and the backend of every neuron of ``net``: builders make layers in
    the default step mode ``s`` and this applies the run's options once, after the network is built.

    Foreign modules are configured through their attributes: ``step_mode`` is set on any module that has one and
    ``backend`` on any stateful module (a foreign neuron) that has one.  Returns a note for each option it could not
    apply (a foreign neuron without the attribute), naming the class and its layers; raises for a bad value.
    """
    return set_step_mode(net, step_mode) + set_backend(net, backend)


def set_step_mode(net: nn.Module, step_mode: str) -> list[str]:
    """Set ``step_mode`` on every module of ``net`` that has one; notes for the foreign neurons that have none.

    Raises on a plain ``torch.nn`` layer that would break in mode ``m`` (use its :mod:`snnlab.layers` twin
    or wrap it in :class:`~snnlab.layers.TimeFold`), and on a layer that cannot run in ``step_mode``.
    """
    check_step_mode(None, step_mode)
    missing: dict[tuple[str, str], list[str]] = defaultdict(list)
    for name, m in net.named_modules():
        if isinstance(m, StepModule) or hasattr(m, "step_mode"):
            try:
                m.step_mode = step_mode
            except ValueError as e:
                raise ValueError(f"step_mode={step_mode!r}: layer {name or 'net'!r}: {e}") from None
        elif _resets(m):
            missing[type(m).__name__, "it has no step_mode attribute"].append(name or "net")
        elif step_mode == "m" and isinstance(m, _BREAK_IN_MULTI_STEP) and not _inside_wrapper(net, name):
            raise TypeError(
                f"{name or 'net'} is a plain torch.nn.{type(m).__name__}, which cannot take [T, B, ...] input in "
                f"step mode 'm'; use snnlab.layers.{type(m).__name__} or wrap it in snnlab.layers.TimeFold"
            )
    return _notes("step_mode", step_mode, missing)


def _inside_wrapper(net: nn.Module, name: str) -> bool:
    """Whether ``name`` sits inside a step module that shapes its torch children's inputs (``TimeFold``, norms)."""
    parts = name.split(".")
    return any(getattr(net.get_submodule(".".join(parts[:i])), "wraps_torch_layers", False) for i in range(len(parts)))


def set_backend(net: nn.Module, backend: str) -> list[str]:
    """Set the multi-step backend of every neuron of ``net`` (raises on an unknown backend): snnlab's neurons, and
    foreign stateful modules with a ``backend`` attribute that take it (SpikingJelly's list theirs in
    ``supported_backends``); notes for the foreign neurons that have none, or do not take this one."""
    check_backend(backend)
    missing: dict[tuple[str, str], list[str]] = defaultdict(list)
    for name, m in net.named_modules():
        if isinstance(m, BaseNode):
            m.backend = backend
        elif not isinstance(m, StepModule) and _resets(m):
            supported = getattr(m, "supported_backends", None) if hasattr(m, "backend") else ()
            if supported is None or backend in supported:
                m.backend = backend
            else:
                why = f"it takes {', '.join(supported)}" if supported else "it has no backend attribute"
                missing[type(m).__name__, why].append(name or "net")
    return _notes("backend", backend, missing)


def _notes(option: str, value: str, missing: dict[tuple[str, str], list[str]]) -> list[str]:
    """One note per foreign class (and reason) that ``option`` was not applied to, listing its layers."""
    return [
        f"{option}={value!r} not applied to {cls} (layers {', '.join(names)}): {why}"
        for (cls, why), names in missing.items()
    ]

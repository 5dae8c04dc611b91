"""Record what spiking neurons emit, through forward hooks (the neurons know nothing about it).

``SpikeMonitor(net)`` hooks every :class:`~snnlab.neurons.BaseNode` in ``net``.  It always counts spikes per
layer (cheap enough for training logs); with ``store=True`` it also keeps each call's spike tensor, and with
``record_v=True`` the membrane potential (``v_seq`` when the neuron stores it in mode ``m``, else ``v``).
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from snnlab.neurons.base import BaseNode


class SpikeMonitor:
    """Per-layer spike counts, firing rates and (optionally) stored spikes / membrane potentials.

    Args:
        net: the network to watch.
        store: keep every call's spikes in ``records[name]`` (detached, on ``device``); ``False`` only counts.
        record_v: keep every call's membrane potential in ``v_records[name]``.
        layer_filter: ``(name, module) -> bool`` selecting which neurons to hook; default: all ``BaseNode``.
        device: where stored tensors go (``"cpu"`` by default, to spare accelerator memory).

    Use as a context manager, or call :meth:`remove` when done.
    """

    def __init__(
        self,
        net: nn.Module,
        store: bool = False,
        record_v: bool = False,
        layer_filter: Callable[[str, nn.Module], bool] | None = None,
        device: str | torch.device | None = "cpu",
    ) -> None:
        self.store = store
        self.record_v = record_v
        self.device = device
        self.layers = [
            name
            for name, m in net.named_modules()
            if isinstance(m, BaseNode) and (layer_filter is None or layer_filter(name, m))
        ]
        self.records: dict[str, list[torch.Tensor]] = {}
        self.v_records: dict[str, list[torch.Tensor]] = {}
        self._spikes: dict[str, torch.Tensor | float] = {}  # device tensors: no host sync per step
        self._elements: dict[str, int] = {}
        self.clear()
        modules = dict(net.named_modules())
        self._handles: list[RemovableHandle] = [
            modules[name].register_forward_hook(self._hook(name)) for name in self.layers
        ]

    def _keep(self, x: torch.Tensor) -> torch.Tensor:
        x = x.detach()
        return x.to(self.device) if self.device is not None else x.clone()

    def _hook(self, name: str) -> Callable[[nn.Module, Any, Any], None]:
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            spikes = output[0] if isinstance(output, (list, tuple)) else output  # OTTT neurons: [spike, trace]
            self._spikes[name] = self._spikes[name] + spikes.detach().sum(dtype=torch.float64)
            self._elements[name] += spikes.numel()
            if self.store:
                self.records[name].append(self._keep(spikes))
            if self.record_v:
                v = module.v_seq if module.step_mode == "m" and module.v_seq is not None else module.v
                if isinstance(v, torch.Tensor):
                    self.v_records[name].append(self._keep(v))

        return hook

    def clear(self) -> None:
        """Drop stored tensors and zero the counts."""
        for name in self.layers:
            self.records[name] = []
            self.v_records[name] = []
            self._spikes[name] = 0.0
            self._elements[name] = 0

    def spike_counts(self) -> dict[str, float]:
        """Total spikes per layer since the last :meth:`clear`."""
        return {name: float(count) for name, count in self._spikes.items()}

    def firing_rates(self) -> dict[str, float]:
        """Mean spikes per neuron and step, per layer (``nan`` for a layer that has not run)."""
        counts = self.spike_counts()
        return {
            name: counts[name] / self._elements[name] if self._elements[name] else float("nan") for name in self.layers
        }

    def mean_firing_rate(self) -> float:
        """Firing rate over all watched neurons together."""
        total = sum(self._elements.values())
        return sum(self.spike_counts().values()) / total if total else float("nan")

    def remove(self) -> None:
        """Detach every hook from the network (records stay readable)."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def __enter__(self) -> SpikeMonitor:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.remove()

"""Energy proxies with NeuroBench's definitions (Yik et al., NeuroBench, 2024; ``neurobench`` 2.3 metrics).

- **Synaptic operations** of the connection layers (``torch.nn.Linear`` and ``Conv1d/2d/3d``, snnlab's step-mode
  twins included), per sample, summed over time steps.  *Effective* operations count the pairs of a non-zero
  input and a non-zero weight that meet (bias not counted).  A call whose inputs are all in ``{-1, 0, 1}``
  (spikes) counts them as accumulates (ACs), any other call (e.g. the first layer under direct coding, or a
  layer after average pooling) as multiply-accumulates (MACs).  *Dense* operations count every connection,
  as if every input and weight were non-zero (zero padding still counts nothing).
- **Activation sparsity**: the share of zeros in the outputs of the spiking neurons, per layer and overall.
- **Footprint**: bytes of the parameters and buffers.
"""

from __future__ import annotations

import math
from types import TracebackType
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from snnlab.monitor import SpikeMonitor

CONNECTIONS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def footprint_bytes(net: nn.Module) -> int:
    """Memory of ``net``'s parameters and buffers, in bytes."""
    return sum(t.numel() * t.element_size() for t in (*net.parameters(), *net.buffers()))


def _connections(layer: nn.Module, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Input–weight pairs that meet in ``layer`` for indicator input ``x`` and indicator weight ``w`` (a 0-dim fp64
    tensor on ``x``'s device: no host sync)."""
    with torch.autocast(x.device.type, enabled=False):
        if isinstance(layer, nn.Linear):
            fan_out = w.sum(0, dtype=torch.float64)
            return x.reshape(-1, layer.in_features).sum(0, dtype=torch.float64) @ fan_out
        x = x.reshape(-1, *x.shape[-(w.dim() - 1) :])
        per_group = w.unflatten(0, (layer.groups, -1)).sum(1)  # summing over output channels first is exact
        return layer._conv_forward(x, per_group, None).sum(dtype=torch.float64)


class EnergyMeter:
    """Counts synaptic operations (forward pre-hooks) and spikes (a :class:`~snnlab.monitor.SpikeMonitor`);
    :meth:`report` gives per-sample numbers.  Counts stay on the device until :meth:`report`.

    Call :meth:`add_samples` with each batch size (the meter cannot tell samples from time steps).  Use as a
    context manager, or call :meth:`remove` when done.
    """

    def __init__(self, net: nn.Module) -> None:
        self.footprint = footprint_bytes(net)
        self.layers = {name: m for name, m in net.named_modules() if isinstance(m, CONNECTIONS)}
        self.spikes = SpikeMonitor(net)  # neurons emit 0/1: the share of zeros is 1 - the firing rate
        self._dense_per_sample: dict[tuple[str, tuple[int, ...]], float] = {}
        self.clear()
        self._handles: list[RemovableHandle] = [
            m.register_forward_pre_hook(self._count_ops(name)) for name, m in self.layers.items()
        ]

    def clear(self) -> None:
        """Zero every count."""
        self.samples = 0
        self.ops: dict[str, dict[str, torch.Tensor | float]] = {
            name: {"effective_acs": 0.0, "effective_macs": 0.0, "dense": 0.0} for name in self.layers
        }
        self.spikes.clear()

    def add_samples(self, n: int) -> None:
        """Record that the forward passes since the last call processed ``n`` more samples."""
        self.samples += int(n)

    def _dense(self, name: str, layer: nn.Module, x: torch.Tensor) -> float:
        sample = tuple(x.shape[-(1 if isinstance(layer, nn.Linear) else layer.weight.dim() - 1) :])
        if (name, sample) not in self._dense_per_sample:
            ones = torch.ones((1, *sample), device=x.device)
            self._dense_per_sample[name, sample] = float(
                _connections(layer, ones, torch.ones_like(layer.weight, dtype=ones.dtype))
            )
        return self._dense_per_sample[name, sample] * (x.numel() // math.prod(sample))

    def _count_ops(self, name: str) -> Any:
        def hook(layer: nn.Module, inputs: tuple[Any, ...]) -> None:
            x = inputs[0].detach()
            with torch.no_grad():
                spiking = ((x == 0) | (x == 1) | (x == -1)).all()
                ops = _connections(layer, (x != 0).float(), (layer.weight != 0).float())
                counts = self.ops[name]
                counts["effective_acs"] = counts["effective_acs"] + ops * spiking
                counts["effective_macs"] = counts["effective_macs"] + ops * ~spiking
                counts["dense"] += self._dense(name, layer, x)

        return hook

    def report(self) -> dict[str, Any]:
        """Per-sample synaptic operations (total and by layer), activation sparsity, footprint in bytes."""
        if self.samples <= 0:
            raise RuntimeError("EnergyMeter.report: no samples recorded; call add_samples(batch_size) per batch")
        by_layer = {name: {k: float(v) / self.samples for k, v in ops.items()} for name, ops in self.ops.items()}
        synops = {k: sum(ops[k] for ops in by_layer.values()) for k in ("effective_acs", "effective_macs", "dense")}
        synops["effective"] = synops["effective_acs"] + synops["effective_macs"]
        return {
            "samples": self.samples,
            "synops": synops,
            "synops_by_layer": by_layer,
            "activation_sparsity": 1 - self.spikes.mean_firing_rate(),
            "activation_sparsity_by_layer": {name: 1 - rate for name, rate in self.spikes.firing_rates().items()},
            "footprint_bytes": self.footprint,
        }

    def remove(self) -> None:
        """Detach every hook (the counts stay readable)."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self.spikes.remove()

    def __enter__(self) -> EnergyMeter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.remove()

"""Energy proxies, per sample and summed over time steps, in two conventions.

**NeuroBench's** (Yik et al., NeuroBench, 2024; ``neurobench`` 2.3 metrics), ``report()["synops"]``:

- **Synaptic operations** of the connection layers (``torch.nn.Linear`` and ``Conv1d/2d/3d``, snnlab's step-mode
  twins and ``TokenLinear`` included).  *Effective* operations count the pairs of a non-zero input and a non-zero
  weight that meet (bias not counted).  A call whose inputs are all in ``{-1, 0, 1}`` (spikes) counts them as
  accumulates (ACs), any other call (e.g. the first layer under direct coding, or a layer after average pooling)
  as multiply-accumulates (MACs).  *Dense* operations count every connection, as if every input and weight were
  non-zero (zero padding still counts nothing).  Modules with an ``accumulates(*inputs)`` method (the spike
  products of :mod:`snnlab.layers.spike_products`) add the ACs it gives (dense: on all-one inputs).
- **Activation sparsity**: the share of zeros in the outputs of the spiking neurons, per layer and overall.
- **Footprint**: bytes of the parameters and buffers.

**The spiking-transformer papers'** (Spikformer, Spike-driven Transformer, QKFormer), ``report()["paper_energy"]``:
``E = E_MAC · (MACs of the first layer + MACs of other layers) + E_AC · ACs``, in mJ per sample, with the 45 nm
constants :data:`E_AC_PJ` and :data:`E_MAC_PJ` (Horowitz, ISSCC 2014).

- The *first* connection layer (the first to run: the encoding layer) counts its dense MACs as FLOP counters
  do (every output position times its fan-in, zero padding included, bias not), *once* per sample when its input
  is the same at every time step (a static image under direct coding) and at every step otherwise (event frames,
  rate coding).  In step mode ``m`` (input ``[T, B, ...]``) the steps of the input are compared; in step mode
  ``s`` each call's input is compared with the previous call's.
- Every other connection layer whose input is integer-valued counts ``|x|`` ACs per non-zero weight that an
  input ``x`` meets: one per spike, and a sum of spike trains (the spike-adding residuals) costs what its terms
  would cost separately (``W(s₁ + s₂) = Ws₁ + Ws₂``).  A layer whose input is not integer-valued (e.g. the head
  after the mean over tokens) counts its effective MACs at ``E_MAC``.
- The spike products add their ACs: a matrix product one per pair of non-zero factors that meet, a sum one per
  non-zero term, a mask none.
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
E_AC_PJ = 0.9
"""Energy of one 32-bit floating-point accumulate in 45 nm CMOS, in pJ (the papers' ``E_AC``)."""
E_MAC_PJ = 4.6
"""Energy of one 32-bit floating-point multiply-accumulate in 45 nm CMOS, in pJ (the papers' ``E_MAC``)."""
PJ_PER_MJ = 1e9


def footprint_bytes(net: nn.Module) -> int:
    """Memory of ``net``'s parameters and buffers, in bytes."""
    return sum(t.numel() * t.element_size() for t in (*net.parameters(), *net.buffers()))


def energy_mj(acs: float, macs: float, e_ac_pj: float = E_AC_PJ, e_mac_pj: float = E_MAC_PJ) -> float:
    """Energy in mJ of ``acs`` accumulates and ``macs`` multiply-accumulates."""
    return (e_ac_pj * acs + e_mac_pj * macs) / PJ_PER_MJ


def _channels_last(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``x`` with the channel axis of a ``Linear`` last (``TokenLinear`` and the like name theirs ``channel_dim``)."""
    dim = getattr(layer, "channel_dim", -1) if isinstance(layer, nn.Linear) else -1
    return x if dim in (-1, x.dim() - 1) else x.movedim(dim, -1)


def _sample_dims(layer: nn.Module) -> int:
    """Dimensions of one row's input (after :func:`_channels_last`): features, or channels and positions."""
    return 1 if isinstance(layer, nn.Linear) else layer.weight.dim() - 1


def _step_rank(layer: nn.Module) -> int:
    """Dimensions of one time step's input (``[B, ...]``), before :func:`_channels_last`."""
    if isinstance(layer, nn.Linear):
        return 1 - getattr(layer, "channel_dim", -1)
    return layer.weight.dim()


def _connections(layer: nn.Module, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Input–weight pairs that meet in ``layer`` for indicator weight ``w``, each pair weighted by its value in ``x``
    (an indicator ``x`` counts them; a 0-dim fp64 tensor on ``x``'s device: no host sync)."""
    with torch.autocast(x.device.type, enabled=False):
        if isinstance(layer, nn.Linear):
            fan_out = w.sum(0, dtype=torch.float64)
            return x.reshape(-1, layer.in_features).sum(0, dtype=torch.float64) @ fan_out
        x = x.reshape(-1, *x.shape[-(w.dim() - 1) :])
        per_group = w.unflatten(0, (layer.groups, -1)).sum(1)  # summing over output channels first is exact
        return layer._conv_forward(x, per_group, None).sum(dtype=torch.float64)


def _full_macs(layer: nn.Module, sample: tuple[int, ...]) -> int:
    """MACs of one row as FLOP counters count them: output elements × fan-in (zero padding included, no bias)."""
    if isinstance(layer, nn.Linear):
        return layer.in_features * layer.out_features
    weight = torch.empty_like(layer.weight, device="meta")
    out = layer._conv_forward(torch.empty((1, *sample), device="meta"), weight, None)
    return out.numel() * weight[0].numel()


def _accumulating(module: nn.Module) -> bool:
    return not isinstance(module, CONNECTIONS) and callable(getattr(module, "accumulates", None))


class EnergyMeter:
    """Counts synaptic operations (forward pre-hooks) and spikes (a :class:`~snnlab.monitor.SpikeMonitor`);
    :meth:`report` gives per-sample numbers in both conventions of this module.  Counts stay on the device until
    :meth:`report`.

    Call :meth:`add_samples` with each batch size (the meter cannot tell samples from time steps).  Use as a
    context manager, or call :meth:`remove` when done.  ``e_ac_pj`` and ``e_mac_pj`` set the energy of one
    accumulate and one multiply-accumulate in the paper-style estimate.
    """

    def __init__(self, net: nn.Module, e_ac_pj: float = E_AC_PJ, e_mac_pj: float = E_MAC_PJ) -> None:
        self.footprint = footprint_bytes(net)
        self.e_ac_pj, self.e_mac_pj = float(e_ac_pj), float(e_mac_pj)
        self.layers = {name: m for name, m in net.named_modules() if isinstance(m, CONNECTIONS)}
        self.products = {name: m for name, m in net.named_modules() if _accumulating(m)}
        self.spikes = SpikeMonitor(net)  # neurons emit 0/1: the share of zeros is 1 - the firing rate
        self.first_layer: str | None = None  # the first connection layer to run
        self._dense_per_sample: dict[tuple[str, tuple[int, ...]], float] = {}
        self._full_per_row: dict[tuple[str, tuple[int, ...]], int] = {}
        self._product_dense: dict[tuple[str, tuple[tuple[int, ...], ...]], float] = {}
        self.clear()
        self._handles: list[RemovableHandle] = [
            m.register_forward_pre_hook(self._count_ops(name)) for name, m in self.layers.items()
        ]
        self._handles += [m.register_forward_pre_hook(self._count_acs(name)) for name, m in self.products.items()]

    def clear(self) -> None:
        """Zero every count."""
        self.samples = 0
        self.ops: dict[str, dict[str, torch.Tensor | float]] = {
            name: {"effective_acs": 0.0, "effective_macs": 0.0, "dense": 0.0} for name in (*self.layers, *self.products)
        }
        self.paper: dict[str, dict[str, torch.Tensor | float]] = {
            name: {"acs": 0.0, "macs": 0.0} for name in (*self.layers, *self.products)
        }
        self._first_steps: torch.Tensor | float = 0.0  # sample-steps whose first-layer MACs counted
        self._previous: torch.Tensor | None = None  # the first layer's last input (step mode s)
        self.spikes.clear()

    def add_samples(self, n: int) -> None:
        """Record that the forward passes since the last call processed ``n`` more samples."""
        self.samples += int(n)

    def _dense(self, name: str, layer: nn.Module, x: torch.Tensor) -> float:
        sample = tuple(x.shape[-_sample_dims(layer) :])
        if (name, sample) not in self._dense_per_sample:
            ones = torch.ones((1, *sample), device=x.device)
            self._dense_per_sample[name, sample] = float(
                _connections(layer, ones, torch.ones_like(layer.weight, dtype=ones.dtype))
            )
        return self._dense_per_sample[name, sample] * (x.numel() // math.prod(sample))

    def _multi_step(self, layer: nn.Module, raw: torch.Tensor) -> bool:
        """Whether ``raw`` (the layer's input as given) is ``[T, B, ...]``: the layer's step mode, else its rank."""
        mode = getattr(layer, "step_mode", None)
        return mode == "m" if isinstance(mode, str) else raw.dim() > _step_rank(layer)

    def _first_layer_macs(self, name: str, layer: nn.Module, raw: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Dense MACs of the first layer's call: each sample's steps counted once when they are all the same."""
        sample = tuple(x.shape[-_sample_dims(layer) :])
        if (name, sample) not in self._full_per_row:
            self._full_per_row[name, sample] = _full_macs(layer, sample)
        if self._multi_step(layer, raw):  # [T, B, ...]
            steps, batch = raw.shape[0], raw.shape[1]
            counted = torch.where((raw == raw[:1]).all(), 1, steps).to(torch.float64)  # steps per sample
        else:  # [B, ...], one step
            steps, batch = 1, raw.shape[0]
            previous, self._previous = self._previous, raw
            same = previous is not None and previous.shape == raw.shape
            counted = (raw != previous).any().to(torch.float64) if same else torch.ones((), dtype=torch.float64)
        counted = counted.to(raw.device) * batch  # sample-steps
        self._first_steps = self._first_steps + counted
        rows_per_step = x.numel() // math.prod(sample) // (steps * batch)  # e.g. the tokens of a TokenLinear
        return counted * (rows_per_step * self._full_per_row[name, sample])

    def _count_ops(self, name: str) -> Any:
        def hook(layer: nn.Module, inputs: tuple[Any, ...]) -> None:
            raw = inputs[0].detach()
            x = _channels_last(layer, raw)
            if self.first_layer is None:
                self.first_layer = name
            with torch.no_grad():
                weight = (layer.weight != 0).float()
                spiking = ((x == 0) | (x == 1) | (x == -1)).all()
                ops = _connections(layer, (x != 0).float(), weight)
                counts = self.ops[name]
                counts["effective_acs"] = counts["effective_acs"] + ops * spiking
                counts["effective_macs"] = counts["effective_macs"] + ops * ~spiking
                counts["dense"] += self._dense(name, layer, x)
                paper = self.paper[name]
                if name == self.first_layer:
                    paper["macs"] = paper["macs"] + self._first_layer_macs(name, layer, raw, x)
                else:
                    integer = (x == x.round()).all()
                    per_spike = _connections(layer, x.abs().float(), weight)  # one AC per spike and weight met
                    paper["acs"] = paper["acs"] + per_spike * integer
                    paper["macs"] = paper["macs"] + ops * ~integer

        return hook

    def _count_acs(self, name: str) -> Any:
        def hook(module: nn.Module, inputs: tuple[Any, ...]) -> None:
            with torch.no_grad():
                acs = module.accumulates(*inputs).to(torch.float64)
                counts = self.ops[name]
                counts["effective_acs"] = counts["effective_acs"] + acs
                shapes = tuple(tuple(t.shape) for t in inputs)
                if (name, shapes) not in self._product_dense:
                    ones = [torch.ones_like(t) for t in inputs]
                    self._product_dense[name, shapes] = float(module.accumulates(*ones))
                counts["dense"] += self._product_dense[name, shapes]
                self.paper[name]["acs"] = self.paper[name]["acs"] + acs

        return hook

    def paper_energy(self) -> dict[str, Any]:
        """The paper-style estimate per sample (see the module's docstring): ``mj_per_sample``, the ``first_layer``
        with its ``first_layer_macs`` and ``first_layer_steps`` (steps counted per sample: 1 for a static input),
        ``acs``, ``macs_other``, the constants, ``dense_acs`` and ``dense_mj_per_sample`` (every input of the layers
        after the first one spike at every step, every product dense) and ``by_layer`` (``acs``, ``macs``, ``mj``)."""
        n = self._require_samples()
        e = {"e_ac_pj": self.e_ac_pj, "e_mac_pj": self.e_mac_pj}
        by_layer = {}
        for name, counts in self.paper.items():
            acs, macs = float(counts["acs"]) / n, float(counts["macs"]) / n
            by_layer[name] = {"acs": acs, "macs": macs, "mj": energy_mj(acs, macs, **e)}
        first = self.first_layer
        first_macs = by_layer[first]["macs"] if first is not None else 0.0
        acs = sum(layer["acs"] for layer in by_layer.values())
        macs_other = sum(layer["macs"] for layer in by_layer.values()) - first_macs
        dense_acs = sum(float(counts["dense"]) for name, counts in self.ops.items() if name != first) / n
        return {
            "mj_per_sample": energy_mj(acs, first_macs + macs_other, **e),
            "first_layer": first,
            "first_layer_macs": first_macs,
            "first_layer_steps": float(self._first_steps) / n,
            "acs": acs,
            "macs_other": macs_other,
            **e,
            "dense_acs": dense_acs,
            "dense_mj_per_sample": energy_mj(dense_acs, first_macs, **e),
            "by_layer": by_layer,
        }

    def _require_samples(self) -> int:
        if self.samples <= 0:
            raise RuntimeError("EnergyMeter.report: no samples recorded; call add_samples(batch_size) per batch")
        return self.samples

    def report(self) -> dict[str, Any]:
        """Per-sample synaptic operations (total and by layer), activation sparsity, footprint in bytes, and the
        paper-style energy estimate (:meth:`paper_energy`)."""
        n = self._require_samples()
        by_layer = {name: {k: float(v) / n for k, v in ops.items()} for name, ops in self.ops.items()}
        synops = {k: sum(ops[k] for ops in by_layer.values()) for k in ("effective_acs", "effective_macs", "dense")}
        synops["effective"] = synops["effective_acs"] + synops["effective_macs"]
        return {
            "samples": self.samples,
            "synops": synops,
            "synops_by_layer": by_layer,
            "activation_sparsity": 1 - self.spikes.mean_firing_rate(),
            "activation_sparsity_by_layer": {name: 1 - rate for name, rate in self.spikes.firing_rates().items()},
            "footprint_bytes": self.footprint,
            "paper_energy": self.paper_energy(),
        }

    def remove(self) -> None:
        """Detach every hook (the counts stay readable)."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._previous = None
        self.spikes.remove()

    def __enter__(self) -> EnergyMeter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.remove()

"""Plots of a run's spiking activity: per-layer firing rates and spike rasters of a few test samples."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

import matplotlib
import numpy as np
import torch
from torch import nn

from snnlab.neurons.base import BaseNode


def layer_labels(net: nn.Module) -> dict[str, str]:
    """``{module path: label}`` for every neuron, naming the layer that feeds it, e.g. ``"conv2 (32 ch) → LIF"``.

    Convolutions and linear layers are numbered in module order (``conv1``, ``conv2``, ..., ``fc1``, ...).
    """
    labels: dict[str, str] = {}
    counts = {"conv": 0, "fc": 0}
    feeder = "input"
    for name, m in net.named_modules():
        if isinstance(m, nn.modules.conv._ConvNd):
            counts["conv"] += 1
            feeder = f"conv{counts['conv']} ({m.out_channels} ch)"
        elif isinstance(m, nn.Linear):
            counts["fc"] += 1
            feeder = f"fc{counts['fc']} ({m.out_features})"
        elif isinstance(m, BaseNode):
            labels[name] = f"{feeder} → {type(m).__name__}"
    return labels


def _pyplot() -> ModuleType:
    """``matplotlib.pyplot`` on the file-only backend."""
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_firing_rates(
    rates: Mapping[str, float], out_png: str | Path, labels: Mapping[str, str] | None = None, title: str = ""
) -> Path:
    """Horizontal bars of the firing rate (spikes per neuron and step) of each layer, in network order."""
    plt = _pyplot()
    labels = labels or {}
    names = list(rates)
    values = np.array([rates[n] for n in names], dtype=float)
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(names) + 1.4))
    bars = ax.barh([f"{labels.get(n, n)}   [{n}]" for n in names], values, color="tab:blue")
    ax.bar_label(bars, labels=[f"{v:.3g}" for v in values], padding=3, fontsize=9)
    ax.set_xlim(0, max(float(np.nanmax(values, initial=0.0)) * 1.2, 0.01))
    ax.invert_yaxis()
    ax.set_xlabel("firing rate (spikes per neuron per time step)")
    ax.set_title(title or "firing rate per spiking layer")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return Path(out_png)


def _pick_neurons(seq: np.ndarray, max_neurons: int) -> np.ndarray:
    """Up to ``max_neurons`` neuron indices of ``seq`` ``[T, B, N]``: the active ones first (a random subset
    when there are more), the rest evenly spaced over the silent ones; sorted."""
    n = seq.shape[2]
    if n <= max_neurons:
        return np.arange(n)
    active = np.flatnonzero(seq.any(axis=(0, 1)))
    rng = np.random.default_rng(0)
    picked = rng.choice(active, min(len(active), max_neurons), replace=False)
    silent = np.setdiff1d(np.arange(n), picked)
    fill = silent[np.linspace(0, len(silent) - 1, max_neurons - len(picked)).round().astype(int)]
    return np.sort(np.concatenate([picked, fill]))


def plot_raster(
    spikes: Mapping[str, torch.Tensor],
    out_png: str | Path,
    labels: Mapping[str, str] | None = None,
    samples: int = 3,
    max_neurons: int = 80,
) -> Path:
    """Spike rasters: one row of panels per layer, one column per sample; neuron against time step.

    ``spikes[name]`` is ``[T, B, ...]``.  A layer with more than ``max_neurons`` neurons shows a subset: the
    neurons that spike in the plotted samples first, then evenly spaced silent ones (ticks give their indices).
    """
    plt = _pyplot()
    labels = labels or {}
    names = list(spikes)
    samples = min(samples, *(s.shape[1] for s in spikes.values()))
    fig, axes = plt.subplots(
        len(names), samples, figsize=(2.4 * samples + 2.2, 2.0 * len(names) + 0.9), squeeze=False, sharex=True
    )
    for row, name in enumerate(names):
        seq = spikes[name].detach().float().flatten(2)[:, :samples].cpu().numpy()  # [T, samples, N]
        shown = _pick_neurons(seq, max_neurons)
        ticks = np.unique(np.linspace(0, len(shown) - 1, min(len(shown), 5)).round().astype(int))
        for col in range(samples):
            ax = axes[row, col]
            ax.imshow(seq[:, col, shown].T, aspect="auto", cmap="Greys", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks(range(seq.shape[0]))
            ax.set_yticks(ticks, [str(i) for i in shown[ticks]], fontsize=7)
            if row == 0:
                ax.set_title(f"sample {col}", fontsize=10)
            if col == 0:
                count = f"{len(shown)} of {seq.shape[2]}" if len(shown) < seq.shape[2] else f"all {seq.shape[2]}"
                ax.set_ylabel(f"{labels.get(name, name)}\n[{name}]: {count} neurons", fontsize=8)
            if row == len(names) - 1:
                ax.set_xlabel("time step")
    fig.suptitle("spike rasters (black = spike; spiking neurons shown first)", fontsize=11)
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return Path(out_png)

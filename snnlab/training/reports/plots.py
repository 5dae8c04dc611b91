"""Plots of a run's spiking activity: per-layer firing rates and spike rasters of a few test samples."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

import matplotlib
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
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


def pyplot() -> ModuleType:
    """``matplotlib.pyplot`` on the file-only backend."""
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig: Figure, out_png: str | Path) -> Path:
    """Write ``fig`` to ``out_png`` and close it."""
    fig.savefig(out_png, dpi=110)
    pyplot().close(fig)
    return Path(out_png)


def plot_firing_rates(
    rates: Mapping[str, float], out_png: str | Path, labels: Mapping[str, str] | None = None, title: str = ""
) -> Path:
    """Horizontal bars of the firing rate (spikes per neuron and step) of each layer, in network order."""
    plt = pyplot()
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
    return save(fig, out_png)


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


def _pick_layers(names: list[str], max_layers: int) -> list[str]:
    """Up to ``max_layers`` of ``names``, evenly spaced, always the first and the last."""
    if len(names) <= max_layers:
        return names
    return [names[i] for i in np.unique(np.linspace(0, len(names) - 1, max_layers).round().astype(int))]


def _text(ax: Axes, text: str, x: float = 0.0, ha: str = "left", fontsize: float = 9) -> None:
    """``text`` in an otherwise empty axes (a header row of a grid)."""
    ax.axis("off")
    ax.text(x, 0.0, text, ha=ha, va="bottom", fontsize=fontsize, transform=ax.transAxes)


def raster_figure(
    spikes: Mapping[str, torch.Tensor],
    labels: Mapping[str, str] | None = None,
    samples: int = 3,
    max_neurons: int = 80,
    max_layers: int = 20,
) -> Figure:
    """The spike rasters of :func:`plot_raster` as a figure: one row of panels per layer (headed by its label),
    one column per sample; neurons (rows, labelled by index) against time steps (columns)."""
    plt = pyplot()
    labels = labels or {}
    names = _pick_layers(list(spikes), max_layers)
    samples = min(samples, *(spikes[n].shape[1] for n in names))
    steps = spikes[names[0]].shape[0]
    fig = plt.figure(figsize=(2.6 * samples + 1.4, 1.3 * len(names) + 1.2), layout="constrained")
    shown_layers = f"{len(names)} of {len(spikes)} layers" if len(names) < len(spikes) else f"{len(names)} layers"
    fig.suptitle(
        f"spike rasters, {shown_layers}, T={steps} (black = spike); a layer with more than {max_neurons} neurons\n"
        f"shows {max_neurons} of them: those that spike in these samples preferred, in index order",
        fontsize=10,
    )
    grid = fig.add_gridspec(1 + 2 * len(names), samples, height_ratios=[0.12] + [0.2, 1.0] * len(names))
    for col in range(samples):
        _text(fig.add_subplot(grid[0, col]), f"sample {col}", x=0.5, ha="center", fontsize=10)
    for row, name in enumerate(names):
        seq = spikes[name].detach().float().flatten(2)[:, :samples].cpu().numpy()  # [T, samples, N]
        shown = _pick_neurons(seq, max_neurons)
        count = f"{len(shown)} of {seq.shape[2]}" if len(shown) < seq.shape[2] else f"all {seq.shape[2]}"
        _text(fig.add_subplot(grid[1 + 2 * row, :]), f"{labels.get(name, name)}   [{name}]: {count} neurons")
        ticks = np.unique(np.linspace(0, len(shown) - 1, min(len(shown), 3)).round().astype(int))
        for col in range(samples):
            ax = fig.add_subplot(grid[2 + 2 * row, col])
            ax.imshow(seq[:, col, shown].T, aspect="auto", cmap="Greys", vmin=0, vmax=1, interpolation="nearest")
            ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
            ax.set_yticks(ticks, [str(i) for i in shown[ticks]] if col == 0 else [], fontsize=7)
            ax.tick_params(axis="x", labelsize=8, labelbottom=row == len(names) - 1)
            if col == 0:
                ax.set_ylabel("neuron", fontsize=8)
            if row == len(names) - 1:
                ax.set_xlabel("time step", fontsize=9)
    return fig


def plot_raster(
    spikes: Mapping[str, torch.Tensor],
    out_png: str | Path,
    labels: Mapping[str, str] | None = None,
    samples: int = 3,
    max_neurons: int = 80,
    max_layers: int = 20,
) -> Path:
    """Spike rasters of the first ``samples`` samples; ``spikes[name]`` is ``[T, B, ...]``.

    A layer with more than ``max_neurons`` neurons shows a subset: the neurons that spike in the plotted samples
    first, then evenly spaced silent ones, in index order (ticks give their indices); a net with more than
    ``max_layers`` spiking layers shows that many, evenly spaced from the first to the last.
    """
    return save(raster_figure(spikes, labels, samples, max_neurons, max_layers), out_png)

"""Activity over time: each layer's firing rate per time step, and membrane potential traces of one layer."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from snnlab.training.reports.plots import pyplot, save


def rates_per_step(spikes: Mapping[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """``{layer: [T] array}``: spikes per neuron at each time step, averaged over the samples (``[T, B, ...]``)."""
    return {name: s.detach().float().flatten(1).mean(dim=1).cpu().numpy() for name, s in spikes.items()}


def pick_traces(spikes: np.ndarray, v: np.ndarray, count: int) -> np.ndarray:
    """Up to ``count`` neuron indices of ``[T, N]`` arrays spanning the range of activity: spiking neurons at evenly
    spaced ranks of their spike count (most active first), then the silent ones that came closest to firing."""
    counts = spikes.sum(axis=0)
    active = np.flatnonzero(counts)
    active = active[np.argsort(-counts[active], kind="stable")]
    silent = np.flatnonzero(counts == 0)
    ranks = np.linspace(0, len(active) - 1, min(len(active), max(count - 1, 1) if len(silent) else count))
    picked = active[np.unique(ranks.round().astype(int))]
    closest = silent[np.argsort(-v.max(axis=0)[silent], kind="stable")][: count - len(picked)]
    return np.concatenate([picked, closest])


def rates_over_time_figure(
    spikes: Mapping[str, torch.Tensor],
    labels: Mapping[str, str] | None = None,
    layer: str | None = None,
    v: torch.Tensor | None = None,
    v_threshold: float = 1.0,
    traces: int = 4,
) -> Figure:
    """Top: one line per layer, its firing rate at each time step (colour: depth).  Below, when ``v`` (the
    ``[T, B, ...]`` membrane potential of ``layer`` after each step) is given: one panel per neuron for up to
    ``traces`` neurons of ``layer`` (:func:`pick_traces`) in the first sample, spikes marked at the threshold."""
    plt = pyplot()
    labels = labels or {}
    rates = rates_per_step(spikes)
    picked: np.ndarray = np.zeros(0, dtype=int)
    if v is not None:
        seq = spikes[layer].detach().float().flatten(2)[:, 0].cpu().numpy()  # [T, N]
        pot = v.detach().float().flatten(2)[:, 0].cpu().numpy()
        picked = pick_traces(seq, pot, traces)
    fig, axes = plt.subplots(
        1 + len(picked),
        1,
        figsize=(10, 3.8 + 1.1 * len(picked)),
        sharex=True,
        layout="constrained",
        height_ratios=[3.0] + [1.0] * len(picked),
        squeeze=False,
    )
    axes = axes[:, 0]
    colours = plt.get_cmap("viridis")(np.linspace(0, 0.9, len(rates)))
    for colour, (name, rate) in zip(colours, rates.items()):
        axes[0].plot(rate, marker=".", color=colour, label=f"{labels.get(name, name)} [{name}]")
    axes[0].set_ylim(bottom=0)
    axes[0].set_ylabel("firing rate\n(spikes per neuron)")
    axes[0].set_title(f"firing rate per time step of each spiking layer ({len(rates)} layers, mean over samples)")
    axes[0].legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=7, ncol=-(-len(rates) // 18))
    if len(picked):
        axes[1].set_title(
            f"membrane potential after each step of neurons of {labels.get(layer, layer)} [{layer}], sample 0; "
            f"dashed: threshold {v_threshold:g}, ▲ spike",
            fontsize=9,
        )
    for ax, i in zip(axes[1:], picked):
        fired = np.flatnonzero(seq[:, i])
        ax.plot(pot[:, i], color="tab:blue", marker=".")
        ax.plot(fired, np.full(len(fired), v_threshold), "^", color="tab:red")
        ax.axhline(v_threshold, color="0.4", linestyle="--", linewidth=1)
        ax.set_ylabel(f"neuron {i}\n{len(fired)} spike{'' if len(fired) == 1 else 's'}", fontsize=8)
    axes[-1].xaxis.set_major_locator(MaxNLocator(nbins=10, integer=True))
    axes[-1].set_xlabel("time step")
    for ax in axes:
        ax.grid(alpha=0.3)
    return fig


def plot_rates_over_time(
    spikes: Mapping[str, torch.Tensor],
    out_png: str | Path,
    labels: Mapping[str, str] | None = None,
    layer: str | None = None,
    v: torch.Tensor | None = None,
    v_threshold: float = 1.0,
) -> Path:
    """:func:`rates_over_time_figure` written to ``out_png``."""
    return save(rates_over_time_figure(spikes, labels, layer, v, v_threshold), out_png)

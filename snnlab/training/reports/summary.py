"""What a run leaves for people: ``summary.json``, ``curves.png``, a short table on the console, the model table."""

from __future__ import annotations

import json
import platform
import subprocess
from importlib.metadata import version
from pathlib import Path
from typing import Any

import lightning
import matplotlib
import pandas as pd
import torch
from rich.console import Console
from rich.table import Table


def git_commit() -> str | None:
    """The checkout's commit hash, or ``None`` outside a git work tree."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "snnlab": version("snnlab"),
    }


def write_summary(path: Path, summary: dict[str, Any]) -> None:
    path.write_text(json.dumps({**summary, "versions": versions(), "git_commit": git_commit()}, indent=2))


def plot_curves(history: list[dict[str, float]], out_png: Path) -> bool:
    """Loss and accuracy per epoch (train and val) from a run's history rows; ``False`` when there is nothing."""
    if not history:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = pd.DataFrame(history).groupby("epoch").last()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "acc")):
        for stage in ("train", "val"):
            col = f"{stage}/{metric}"
            if col in epochs and epochs[col].notna().any():
                ax.plot(epochs.index, epochs[col], marker="o", label=stage)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return True


def print_summary(summary: dict[str, Any], console: Console | None = None) -> None:
    """A rich table of the headline numbers of a run, then its folder on a line of its own (never cut)."""
    console = console or Console()
    table = Table(title="snnlab run", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    keys = ["status", "test_acc", "best_val_acc", "epochs", "params", "wall_time_s", "train_samples_per_s"]
    for key in keys:
        value = summary.get(key)
        if value is not None:
            table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    paper = (summary.get("energy") or {}).get("paper_energy")
    if paper:  # the test set's energy per image, as the spiking-transformer papers count it (README, Energy metrics)
        table.add_row("energy_mj_per_sample", f"{paper['mj_per_sample']:.4g}")
    console.print(table)
    console.print(f"run folder: {summary.get('output_dir')}", soft_wrap=True, highlight=False, markup=False)

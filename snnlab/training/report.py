"""What a finished run leaves for people: ``summary.json``, ``curves.png`` and a short table on the console."""

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


def plot_curves(metrics_csv: Path, out_png: Path) -> bool:
    """Loss and accuracy per epoch (train and val) from a CSVLogger file; ``False`` when there is nothing."""
    if not metrics_csv.is_file():
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = pd.read_csv(metrics_csv)
    if "epoch" not in df:
        return False
    epochs = df.groupby("epoch").mean(numeric_only=True)
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
    """A rich table of the headline numbers of a run."""
    table = Table(title="snnlab run", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for key in ("test_acc", "best_val_acc", "params", "wall_time_s", "train_samples_per_s", "output_dir"):
        value = summary.get(key)
        table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    (console or Console()).print(table)

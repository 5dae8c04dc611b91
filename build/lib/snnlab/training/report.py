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
from lightning.pytorch.callbacks import RichModelSummary
from lightning.pytorch.utilities.model_summary import get_formatted_model_size, get_human_readable_count
from rich import get_console
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
    console.print(table)
    console.print(f"run folder: {summary.get('output_dir')}", soft_wrap=True, highlight=False, markup=False)


class ModelSummary(RichModelSummary):
    """Lightning's rich parameter table, without the FLOPs column and total when no FLOPs were counted (Lightning
    counts them only for a module with an ``example_input_array``)."""

    @staticmethod
    def summarize(
        summary_data: list[tuple[str, list[str]]],
        total_parameters: int,
        trainable_parameters: int,
        model_size: float,
        total_training_modes: dict[str, int],
        total_flops: int,
        **summarize_kwargs: Any,
    ) -> None:
        table = Table(header_style=summarize_kwargs.get("header_style", "bold magenta"))
        columns = [(name, values) for name, values in summary_data if name != "FLOPs" or total_flops]
        for name, _ in columns:
            table.add_column(name, justify="right" if name in ("Params", "FLOPs") else "left")
        for row in zip(*(values for _, values in columns)):
            table.add_row(*row)
        console = get_console()
        console.print(table)
        count = get_human_readable_count
        lines = [
            f"Trainable params: {count(trainable_parameters)}",
            f"Non-trainable params: {count(total_parameters - trainable_parameters)}",
            f"Total params: {count(total_parameters)}",
            f"Total estimated model params size (MB): {get_formatted_model_size(model_size)}",
        ]
        if total_flops:
            lines.append(f"Total FLOPs: {count(total_flops)}")
        console.print("\n".join(lines), highlight=False)

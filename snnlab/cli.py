"""Command-line entry points: ``train`` (Hydra app over ``conf/``), ``evaluate`` and ``list``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import hydra
from omegaconf import DictConfig

CONFIG_DIR = Path(__file__).resolve().parents[1] / "conf"


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")
def train(cfg: DictConfig) -> float:
    """``python train.py [overrides]``: one training run; returns the optimized metric to sweepers."""
    from snnlab.training import train as run_train

    return run_train(cfg)


def evaluate(argv: list[str] | None = None) -> dict:
    """``python eval.py RUN_DIR [--ckpt best|last|PATH]``: test accuracy of a finished run."""
    parser = argparse.ArgumentParser(description="Rebuild a run's model from its stored config and test it.")
    parser.add_argument("run_dir", type=Path, help="the run's output folder (holds checkpoints/)")
    parser.add_argument("--ckpt", default="best", help="best (default), last, or a checkpoint path")
    parser.add_argument("--accelerator", default="auto", help="lightning accelerator (auto, cpu, gpu)")
    args = parser.parse_args(argv)
    from snnlab.training import evaluate as run_evaluate

    metrics = run_evaluate(args.run_dir, args.ckpt, args.accelerator)
    print(json.dumps(metrics, indent=2))
    return metrics


def list_components() -> None:
    """Print every registered component, by kind, with the config group options beside them."""
    from rich.console import Console
    from rich.table import Table

    from snnlab import registry, training  # noqa: F401  (importing registers every component)

    table = Table(title="snnlab components")
    table.add_column("kind", style="bold")
    table.add_column("registered names")
    table.add_column("config group options")
    for kind in registry.kinds():
        group = CONFIG_DIR / kind
        options = ", ".join(sorted(f.stem for f in group.glob("*.yaml"))) if group.is_dir() else ""
        table.add_row(kind, ", ".join(registry.names(kind)), options)
    for group in sorted(p for p in CONFIG_DIR.iterdir() if p.is_dir() and p.name not in registry.kinds()):
        table.add_row(
            f"[dim]{group.name}[/dim]",
            "[dim](import paths)[/dim]",
            ", ".join(sorted(f.stem for f in group.glob("*.yaml"))),
        )
    Console(width=max(Console().width, 120)).print(table)


def main(argv: list[str] | None = None) -> None:
    """``python -m snnlab list``."""
    parser = argparse.ArgumentParser(prog="python -m snnlab")
    parser.add_argument("command", choices=["list"], help="list: every registered component, by kind")
    parser.parse_args(argv)
    list_components()

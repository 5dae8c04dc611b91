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
    """Print what the registries and config groups offer."""
    from rich.console import Console
    from rich.table import Table

    from snnlab.encoders import ENCODERS
    from snnlab.models import DROPOUTS, NORMS, list_models
    from snnlab.neurons import NEURONS
    from snnlab.surrogate import SURROGATES

    table = Table(title="snnlab components")
    table.add_column("kind", style="bold")
    table.add_column("registered names")
    for kind, names in (
        ("models", list_models()),
        ("neurons", sorted(NEURONS)),
        ("norms", list(NORMS)),
        ("dropouts", list(DROPOUTS)),
        ("encoders", list(ENCODERS)),
        ("surrogates", sorted(SURROGATES)),
    ):
        table.add_row(kind, ", ".join(names))
    for group in sorted(p for p in CONFIG_DIR.iterdir() if p.is_dir()):
        options = sorted(f.stem for f in group.glob("*.yaml"))
        table.add_row(f"conf/{group.name}", ", ".join(options))
    Console().print(table)


def main(argv: list[str] | None = None) -> None:
    """``python -m snnlab list``."""
    parser = argparse.ArgumentParser(prog="python -m snnlab")
    parser.add_argument("command", choices=["list"], help="list: registered models, neurons, norms, encoders")
    parser.parse_args(argv)
    list_components()

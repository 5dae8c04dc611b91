"""The subcommands besides ``train``: ``eval``, ``list``, ``inspect``, ``export`` and ``plot``.

Each takes its own arguments (``argv``) and reports a user error as one line with exit code 2.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from snnlab.cli.app import USER_ERRORS, fail, quiet_third_party
from snnlab.conf import CONFIG_DIR


def eval_command(argv: list[str] | None = None) -> dict[str, Any]:
    """``snnlab eval RUN_DIR [--ckpt best|last|PATH]``: test accuracy of a finished run."""
    parser = argparse.ArgumentParser(prog="snnlab eval", description="Rebuild a run's model and test it.")
    parser.add_argument("run_dir", type=Path, help="the run's output folder (holds checkpoints/)")
    parser.add_argument("--ckpt", default="best", help="best (default), last, or a checkpoint path")
    parser.add_argument("--accelerator", default="auto", help="lightning accelerator (auto, cpu, gpu)")
    args = parser.parse_args(argv)
    from snnlab.training import evaluate

    quiet_third_party()
    try:
        metrics = evaluate(args.run_dir, args.ckpt, args.accelerator)
    except USER_ERRORS as e:
        fail(e)
    print(json.dumps(metrics, indent=2))
    return metrics


def list_command(argv: list[str] | None = None) -> None:
    """``snnlab list``: every registered kind with its names and the config key or group that selects it."""
    argparse.ArgumentParser(prog="snnlab list", description=list_command.__doc__).parse_args(argv)
    from rich.console import Console
    from rich.table import Table

    from snnlab import registry, training  # noqa: F401  (importing registers every component)

    table = Table(title="snnlab components")
    table.add_column("kind", style="bold")
    table.add_column("registered names")
    table.add_column("config spelling")
    table.add_column("config group options")
    keys = config_keys(registry.kinds())
    for kind in registry.kinds():
        group = CONFIG_DIR / kind
        options = ", ".join(sorted(f.stem for f in group.glob("*.yaml"))) if group.is_dir() else ""
        spelling = [f"{kind}=OPTION, {kind}._target_=NAME"] if options else []
        spelling += [f"{key}=NAME" if scalar else f"{key}={{_target_: NAME, ...}}" for key, scalar in keys[kind]]
        spelling = spelling or [f"NODE.{kind}={{_target_: NAME, ...}} (a key {kind} or *_{kind} of any node)"]
        table.add_row(kind, ", ".join(registry.names(kind)), "\n".join(spelling), options)
    for group in sorted(p for p in CONFIG_DIR.iterdir() if p.is_dir() and p.name not in [*registry.kinds(), "hydra"]):
        options = ", ".join(sorted(f.stem for f in group.glob("*.yaml")))
        name = group.name
        table.add_row(f"[dim]{name}[/dim]", "[dim](import paths)[/dim]", f"[dim]{name}=OPTION[/dim]", options)
    Console(width=max(Console().width, 120)).print(table)


def config_keys(kinds: list[str]) -> dict[str, list[tuple[str, bool]]]:
    """Per kind, the keys of the shipped configs (snnlab/conf) that choose one of its components, as
    ``(key, scalar)``: a ``_target_`` node (``neuron.surrogate``, ``classifier.loss``) or a plain name (``backend``)."""
    from omegaconf import OmegaConf

    found: dict[str, set[tuple[str, bool]]] = {kind: set() for kind in kinds}

    def walk(node: dict[str, Any], prefix: str) -> None:
        for key, value in node.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            node = bool(prefix) and isinstance(value, dict) and "_target_" in value  # a group file's own node: no
            name = isinstance(value, str) and "${" not in value  # a plain name, not an interpolation
            if key in found and (node or name):
                found[key].add((path, name))
            if isinstance(value, dict):
                walk(value, path)

    for file in CONFIG_DIR.rglob("*.yaml"):
        group = file.parent.relative_to(CONFIG_DIR).parts
        if group[:1] != ("hydra",):
            package = "" if "@package _global_" in file.read_text() else ".".join(group)
            walk(OmegaConf.to_container(OmegaConf.load(file)), package)
    return {kind: sorted(keys) for kind, keys in found.items()}


def inspect_command(argv: list[str] | None = None) -> dict[str, Any]:
    """``snnlab inspect [overrides] [--json]``: the configured network, built without data files."""
    from snnlab.training.tools.inspection import inspect_network

    try:
        return inspect_network(argv, CONFIG_DIR)
    except USER_ERRORS as e:
        fail(e, argv or [])


def export_command(argv: list[str] | None = None) -> Path:
    """``snnlab export RUN_DIR --format nir -o model.nir``: a finished run's network for other simulators."""
    parser = argparse.ArgumentParser(prog="snnlab export", description=export_command.__doc__)
    parser.add_argument("run_dir", type=Path, help="the run's output folder")
    parser.add_argument("--format", default="nir", choices=["nir"], help="export format (NIR graph)")
    parser.add_argument("-o", "--out", type=Path, required=True, help="file to write, e.g. model.nir")
    parser.add_argument("--ckpt", default="best", help="best (default), last, or a checkpoint path")
    parser.add_argument("--dt", type=float, default=1.0, help="time step of the NIR neurons' continuous dynamics")
    parser.add_argument(
        "--approximate", action="store_true", help="export soft reset as hard reset and max pooling as sum pooling"
    )
    args = parser.parse_args(argv)
    from snnlab.training.tools.export import export_run

    quiet_third_party()
    try:
        path = export_run(args.run_dir, args.out, args.approximate, args.ckpt, args.dt)
    except (*USER_ERRORS, ImportError) as e:
        fail(e)
    print(f"wrote {path}")
    return path


def plot_command(argv: list[str] | None = None) -> dict[str, Path]:
    """``snnlab plot RUN_DIR``: per-layer firing rates and a spike raster of a finished run."""
    parser = argparse.ArgumentParser(prog="snnlab plot", description=plot_command.__doc__)
    parser.add_argument("run_dir", type=Path, help="the run's output folder")
    args = parser.parse_args(argv)
    from snnlab.training.tools.plot_run import plot_run

    quiet_third_party()
    try:
        paths = plot_run(args.run_dir)
    except USER_ERRORS as e:
        fail(e)
    for path in paths.values():
        print(f"wrote {path}")
    return paths

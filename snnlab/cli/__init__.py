"""The ``snnlab`` command (also ``python -m snnlab``): ``train``, ``eval``, ``list``, ``inspect``, ``export``,
``plot``.  ``train.py`` and ``eval.py`` at the repository root are thin wrappers of ``train`` and ``eval``."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from snnlab.cli import commands
from snnlab.cli.app import MultirunGuard, train
from snnlab.cli.commands import eval_command

SUBCOMMANDS: dict[str, tuple[Callable[..., Any], str]] = {
    "eval": (commands.eval_command, "test a finished run: eval RUN_DIR [--ckpt best|last|PATH]"),
    "list": (commands.list_command, "every registered component, by kind"),
    "inspect": (commands.inspect_command, "the configured network without data files: inspect [overrides] [--json]"),
    "export": (commands.export_command, "a run's network as NIR: export RUN_DIR --format nir -o model.nir"),
    "plot": (commands.plot_command, "firing rates, spike rasters and rates over time of a run: plot RUN_DIR"),
}
TRAIN_HELP = "train a network: train [group=option ...] [key=value ...] (Hydra overrides; -m sweeps)"
USAGE = f"usage: snnlab {{train,{','.join(SUBCOMMANDS)}}} ...\n\n  {'train':<10} {TRAIN_HELP}\n" + "".join(
    f"  {name:<10} {text}\n" for name, (_, text) in SUBCOMMANDS.items()
)


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``snnlab <subcommand> [arguments]``; returns the exit code (0: success; a user error exits with 2).
    The subcommands print their results; their return values are for Python callers only."""
    args = sys.argv[1:] if argv is None else list(argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    command, rest = args[0], args[1:]
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # like `python -m`: a project's own modules import by their path
    if command == "train":
        sys.argv = ["snnlab train", *rest]  # Hydra reads its overrides from sys.argv
        train()
        return 0
    if command not in SUBCOMMANDS:
        print(f"error: unknown subcommand {command!r}\n\n{USAGE}", file=sys.stderr)
        sys.exit(2)
    SUBCOMMANDS[command][0](rest)
    return 0


__all__ = ["MultirunGuard", "eval_command", "main", "train"]

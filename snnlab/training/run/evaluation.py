"""Test a finished run again: rebuild its exact model from the stored config and load a checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning

from snnlab.training.run.resume import floats
from snnlab.training.run.run_files import load_run


def evaluate(run_dir: str | Path, checkpoint: str = "best", accelerator: str = "auto") -> dict[str, Any]:
    """Rebuild a finished run's exact model from its stored config, load ``checkpoint``, report test metrics."""
    datamodule, module, path = load_run(run_dir, checkpoint)
    trainer = lightning.Trainer(accelerator=accelerator, devices=1, logger=False, enable_progress_bar=False)
    trainer.test(module, datamodule=datamodule, verbose=False)
    return {**floats(trainer.callback_metrics), "checkpoint": str(path)}

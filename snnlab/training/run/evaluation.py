"""Test a finished run again: rebuild its exact model from the stored config and load a checkpoint (with the weights
the run tested with: its EMA when it evaluated with one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning

from snnlab.training.callbacks.ema import load_evaluated_weights
from snnlab.training.run.preflight import load_checkpoint
from snnlab.training.run.resume import floats
from snnlab.training.run.run_files import load_run


def evaluate(run_dir: str | Path, checkpoint: str = "best", accelerator: str = "auto") -> dict[str, Any]:
    """Rebuild a finished run's exact model from its stored config, load ``checkpoint``, report test metrics;
    ``weights`` says which were tested: ``ema`` (the run evaluated with its EMA, ``ema.evaluate``) or ``trained``."""
    datamodule, module, path = load_run(run_dir, checkpoint)
    weights = load_evaluated_weights(module, load_checkpoint(path, "--ckpt"))
    trainer = lightning.Trainer(accelerator=accelerator, devices=1, logger=False, enable_progress_bar=False)
    trainer.test(module, datamodule=datamodule, verbose=False)
    return {**floats(trainer.callback_metrics), "checkpoint": str(path), "weights": weights}

"""Test a finished run again: rebuild its exact model from the stored config and load a checkpoint (with the weights
the run tested with: its EMA when it evaluated with one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning
from lightning.fabric.utilities.exceptions import MisconfigurationException

from snnlab.instantiate import ConfigError
from snnlab.training.callbacks.bn_recalibration import load_evaluated_statistics
from snnlab.training.callbacks.ema import load_evaluated_weights
from snnlab.training.callbacks.energy import EnergyCallback
from snnlab.training.run.preflight import load_checkpoint
from snnlab.training.run.resume import floats
from snnlab.training.run.run_files import load_run


def evaluate(run_dir: str | Path, checkpoint: str = "best", accelerator: str = "auto") -> dict[str, Any]:
    """Rebuild a finished run's exact model from its stored config, load ``checkpoint``, report test metrics;
    ``weights`` says which were tested: ``ema`` (the run evaluated with its EMA, ``ema.evaluate``) or ``trained``."""
    datamodule, module, path = load_run(run_dir, checkpoint)
    checkpoint_data = load_checkpoint(path, "--ckpt")
    weights = load_evaluated_weights(module, checkpoint_data)
    load_evaluated_statistics(module, checkpoint_data)  # a short run's recalibrated batch-norm statistics
    trainer = eval_trainer(accelerator)
    trainer.test(module, datamodule=datamodule, verbose=False)
    return {**floats(trainer.callback_metrics), "checkpoint": str(path), "weights": weights}


def eval_trainer(accelerator: str) -> lightning.Trainer:
    """A one-device trainer without logger or progress bar that measures the energy proxies (``test/energy_mj``,
    ``test/synops``, ...); an accelerator this machine lacks (or Lightning does not know) is a :class:`ConfigError`
    naming ``--accelerator``."""
    try:
        return lightning.Trainer(
            accelerator=accelerator, devices=1, logger=False, enable_progress_bar=False, callbacks=[EnergyCallback()]
        )
    except (MisconfigurationException, ValueError) as e:
        reason = str(e).strip().rstrip(".!")
        raise ConfigError(
            f"--accelerator={accelerator}: this machine cannot run it ({reason}); "
            "use --accelerator auto (a GPU when visible) or cpu"
        ) from e

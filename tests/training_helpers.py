"""Shared helpers of the training tests: compose the run config with tiny, fast settings."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from lightning import Callback, LightningModule, Trainer
from omegaconf import DictConfig

from snnlab.conf import CONFIG_DIR

# A tiny digits run: small batches, T=2, no progress bar or model summary.
FAST = [
    "data=digits",
    "data.batch_size=16",
    "T=2",
    "callbacks.progress=null",
    "callbacks.model_summary=null",
    "+trainer.enable_progress_bar=false",
    "+trainer.enable_model_summary=false",
    "trainer.accelerator=cpu",
]
TINY_CNN = ["model.channels=[4,8]", "model.hidden=16"]
"""The default cnn, small; left out when the overrides pick another model."""


def compose_run(output_dir: Path, overrides: Sequence[str] = ()) -> DictConfig:
    """The ``train`` config with :data:`FAST` settings (and :data:`TINY_CNN`), writing into ``output_dir``."""
    model = [] if any(o.startswith("model=") for o in overrides) else TINY_CNN
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose("train", overrides=[*FAST, *model, f"paths.output_dir={output_dir}", *overrides])


class PauseAt(Callback):
    """At training batch ``batch`` of epoch ``epoch``: touch ``marker``, then sleep ``seconds`` (time for a test to
    signal or kill the run at a known point)."""

    def __init__(self, epoch: int, batch: int, marker: str, seconds: float) -> None:
        self.epoch, self.batch, self.marker, self.seconds = epoch, batch, Path(marker), seconds

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int) -> None:
        if (trainer.current_epoch, batch_idx) == (self.epoch, self.batch) and not self.marker.exists():
            self.marker.touch()
            time.sleep(self.seconds)

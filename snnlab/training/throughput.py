"""A callback that measures training throughput (samples per second of training steps)."""

from __future__ import annotations

import time
from typing import Any

from lightning import Callback, LightningModule, Trainer


class TrainThroughput(Callback):
    """Sums the wall time and sample count of training batches (validation and setup excluded)."""

    def __init__(self) -> None:
        self.samples = 0
        self.seconds = 0.0
        self._start = 0.0

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self.seconds += time.perf_counter() - self._start
        self.samples += len(batch[1])

    @property
    def samples_per_second(self) -> float:
        return self.samples / self.seconds if self.seconds else float("nan")

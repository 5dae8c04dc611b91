"""A callback that measures training throughput (samples per second of training steps, summed over processes)."""

from __future__ import annotations

import time
from typing import Any

import torch
from lightning import Callback, LightningModule, Trainer


class TrainThroughput(Callback):
    """Sums the wall time and sample count of training batches (validation and setup excluded).

    At the end of training the per-process rates are summed over all processes (DDP ranks run concurrently).
    """

    def __init__(self) -> None:
        self.samples = 0
        self.seconds = 0.0
        self._start = 0.0
        self._all_ranks: float | None = None

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self.seconds += time.perf_counter() - self._start
        self.samples += len(batch[1])

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        rate = torch.tensor(self.samples / self.seconds if self.seconds else 0.0, device=pl_module.device)
        self._all_ranks = float(trainer.strategy.reduce(rate, reduce_op="sum"))

    @property
    def samples_per_second(self) -> float:
        """All processes' training samples per second (this process's alone before training has ended)."""
        if self._all_ranks is not None:
            return self._all_ranks
        return self.samples / self.seconds if self.seconds else float("nan")

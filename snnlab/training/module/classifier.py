"""``SNNClassifier``: the LightningModule of every classification run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from lightning import LightningModule
from timm.scheduler.scheduler import Scheduler as TimmScheduler
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from snnlab.functional import reset_net
from snnlab.monitor import SpikeMonitor
from snnlab.training.module.learning import BPTT, Batch, LearningMode, stepwise_outputs
from snnlab.training.module.losses import CrossEntropy, Loss
from snnlab.training.module.mixup import MixUp, hard_labels
from snnlab.training.module.optimizers import build_optimizer
from snnlab.training.module.readouts import Mean, Readout
from snnlab.training.module.schedulers import interval, step_timm

STAGES = ("train", "val", "test", "predict")


class SNNClassifier(LightningModule):
    """reset → encode → network → readout → loss → metrics, in every stage.

    Args:
        net: the spiking network, mapping ``[T, B, ...]`` to ``[T, B, K]`` in step mode ``m`` (in mode ``s``
            it is called once per step and this module loops over time).
        encoder: static ``[B, ...]`` → ``[T, B, ...]``; ``None`` for data that is already time-first.
        num_classes: number of classes (``K`` is ``readout.output_units(num_classes)``).
        optimizer: the ``optim`` node's factory (:func:`~snnlab.training.module.optimizers.build_optimizer` calls
            it with ``net``); ``scheduler``: ``optimizer -> scheduler``, a torch or a timm one (:func:`step_timm`).
        loss: a :class:`~snnlab.training.module.losses.Loss`; default cross-entropy on the scores.
        readout: a :class:`~snnlab.training.module.readouts.Readout`; default the mean over time.
        step_mode: the step mode ``net`` is in.
        learning: how a training batch becomes gradients (:mod:`snnlab.training.module.learning`); default BPTT.
            A mode that steps the optimizer itself (OTTT) turns off Lightning's automatic optimization.
        config: the run's resolved config, stored in every checkpoint so evaluation rebuilds this exact model.
        mixup: Mixup/CutMix and label smoothing of training batches (soft targets; ``train/acc`` against the label
            of larger weight); ``None``: training batches as they come.
    """

    def __init__(
        self,
        net: nn.Module,
        encoder: nn.Module | None,
        num_classes: int,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., Any] | None = None,
        loss: Loss | None = None,
        readout: Readout | None = None,
        step_mode: str = "m",
        config: dict[str, Any] | None = None,
        learning: LearningMode | None = None,
        mixup: MixUp | None = None,
    ) -> None:
        super().__init__()
        self.learning = learning or BPTT()
        self.mixup = mixup
        self.automatic_optimization = self.learning.automatic_optimization
        self.loss_fn = loss or CrossEntropy()
        self.readout = readout or Mean()
        self.net = net
        self.encoder = encoder
        self.num_classes = num_classes
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.step_mode = step_mode
        self.config = config
        self.acc = nn.ModuleDict({f"{s}_acc": MulticlassAccuracy(num_classes, average="micro") for s in STAGES[:3]})
        self.monitor: SpikeMonitor | None = None

    def outputs(self, x: torch.Tensor) -> torch.Tensor:
        """The output sequence ``[T, B, K]`` of a static ``[B, ...]`` or time-first ``[T, B, ...]`` batch."""
        x_seq = self.encoder(x) if self.encoder is not None else x
        return torch.stack(list(stepwise_outputs(self.net, x_seq))) if self.step_mode == "s" else self.net(x_seq)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores ``[B, num_classes]`` of a static ``[B, ...]`` or time-first ``[T, B, ...]`` batch."""
        return self.readout(self.outputs(x))

    def compute_loss(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Reset every stateful layer, then ``(loss, scores)`` of ``batch``."""
        reset_net(self.net)
        x, y = batch
        return self.loss(self.outputs(x), y)

    def loss(self, out_seq: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(loss, scores)`` of the output sequence ``out_seq`` ``[T, B, K]``."""
        return self.loss_fn(out_seq, y, self.readout), self.readout(out_seq)

    def _step(self, batch: Batch, stage: str, batch_idx: int = 0) -> torch.Tensor:
        if stage == "train":
            loss, scores = self.learning.training_step(self, batch, batch_idx)
        else:
            loss, scores = self.compute_loss(batch)
        y = hard_labels(batch[1])
        acc = self.acc[f"{stage}_acc"]
        acc(scores, y)
        on_step = stage == "train"
        self.log(
            f"{stage}/loss", loss, on_step=False, on_epoch=True, prog_bar=on_step, batch_size=len(y), sync_dist=True
        )
        self.log(f"{stage}/acc", acc, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(y))
        return loss

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        self.log("lr", self.trainer.optimizers[0].param_groups[0]["lr"], on_step=False, on_epoch=True, sync_dist=True)
        if self.mixup is not None:  # before encoding; an event batch [T, B, ...] is mixed per sample
            batch = self.mixup(*batch, epoch=self.current_epoch, time_first=self.encoder is None)
        return self._step(batch, "train", batch_idx)

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        self.learning.on_before_optimizer_step(self, optimizer)

    def on_train_epoch_end(self) -> None:
        self.learning.on_train_epoch_end(self)

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._step(batch, "test")

    def predict_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        reset_net(self.net)
        return self(batch[0]).argmax(-1)

    # Firing rates: counted by hooks during validation and test, logged once per epoch.
    def _start_monitor(self) -> None:
        self.monitor = SpikeMonitor(self.net)

    def _log_rates(self, stage: str) -> None:
        if self.monitor is None:
            return
        rates = self.monitor.firing_rates()
        self.monitor.remove()
        self.monitor = None
        for name, rate in rates.items():
            self.log(f"{stage}/rate/{name}", rate, on_epoch=True, sync_dist=True)

    def on_validation_epoch_start(self) -> None:
        self._start_monitor()

    def on_validation_epoch_end(self) -> None:
        self._log_rates("val")

    def on_test_epoch_start(self) -> None:
        self._start_monitor()

    def on_test_epoch_end(self) -> None:
        self._log_rates("test")

    def configure_optimizers(self) -> Any:
        optimizer = build_optimizer(self.optimizer_factory, self.net)
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer)
        if not self.automatic_optimization:  # the learning mode steps it (Lightning ignores the interval here)
            return {"optimizer": optimizer, "lr_scheduler": scheduler}
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": interval(scheduler)}}

    def lr_scheduler_step(self, scheduler: Any, metric: Any) -> None:
        if isinstance(scheduler, TimmScheduler):
            step_timm(scheduler, self.trainer)
        else:
            super().lr_scheduler_step(scheduler, metric)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["snnlab_config"] = self.config

"""``SNNClassifier``: the LightningModule of every classification run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from lightning import LightningModule
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from snnlab import registry
from snnlab.functional import reset_net
from snnlab.monitor import SpikeMonitor
from snnlab.training.module import losses, readouts  # noqa: F401  (registers the losses and readouts)
from snnlab.training.module.learning import BPTT, Batch, LearningMode, stepwise_outputs

STAGES = ("train", "val", "test", "predict")


class SNNClassifier(LightningModule):
    """reset → encode → network → readout → loss → metrics, in every stage.

    Args:
        net: the spiking network, mapping ``[T, B, ...]`` to ``[T, B, K]`` in step mode ``m`` (in mode ``s``
            it is called once per step and this module loops over time).
        encoder: static ``[B, ...]`` → ``[T, B, ...]``; ``None`` for data that is already time-first.
        num_classes: number of classes (``K`` is ``num_classes`` or ``num_classes × votes`` with voting).
        optimizer: ``params -> Optimizer`` (a ``_partial_`` config); ``scheduler``: ``optimizer -> LRScheduler``.
        loss: a registered ``loss``: ``"ce"`` (cross-entropy on the scores) or ``"mse"`` (scores as firing
            rates vs one-hot targets).
        readout: a registered ``readout``: ``"mean"`` or ``"voting"`` (see :mod:`snnlab.training.module.readouts`).
        step_mode: the step mode ``net`` is in.
        learning: how a training batch becomes gradients (:mod:`snnlab.training.module.learning`); default BPTT.
            A mode that steps the optimizer itself (OTTT) turns off Lightning's automatic optimization.
        config: the run's resolved config, stored in every checkpoint so evaluation rebuilds this exact model.
    """

    def __init__(
        self,
        net: nn.Module,
        encoder: nn.Module | None,
        num_classes: int,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., Any] | None = None,
        loss: str = "ce",
        readout: str = "mean",
        step_mode: str = "m",
        config: dict[str, Any] | None = None,
        learning: LearningMode | None = None,
        loss_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.learning = learning or BPTT()
        self.automatic_optimization = self.learning.automatic_optimization
        self.loss_fn = registry.get("loss", loss)
        self.loss_kwargs = dict(loss_kwargs or {})
        self.readout_fn = registry.get("readout", readout)
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
        return self.readout_fn(self.outputs(x), self.num_classes)

    def compute_loss(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Reset every stateful layer, then ``(loss, scores)`` of ``batch``."""
        reset_net(self.net)
        x, y = batch
        return self.loss(self.outputs(x), y)

    def loss(self, out_seq: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(loss, scores)`` of the output sequence ``out_seq`` ``[T, B, K]``.  A loss marked ``per_step`` (TET) gets
        the scores of each step alone, ``[T, B, num_classes]`` (the readout reduces a leading axis of size 1)."""
        scores = self.readout_fn(out_seq, self.num_classes)
        if getattr(self.loss_fn, "per_step", False):
            return self.loss_fn(self.readout_fn(out_seq[None], self.num_classes), y, **self.loss_kwargs), scores
        return self.loss_fn(scores, y, **self.loss_kwargs), scores

    def _step(self, batch: Batch, stage: str, batch_idx: int = 0) -> torch.Tensor:
        if stage == "train":
            loss, scores = self.learning.training_step(self, batch, batch_idx)
        else:
            loss, scores = self.compute_loss(batch)
        y = batch[1]
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
        optimizer = self.optimizer_factory(self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": self.scheduler_factory(optimizer)}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["snnlab_config"] = self.config

"""Learning-rate schedule factories: ``scheduler(optimizer) -> LRScheduler`` (a torch or a timm scheduler), built
from a config node, and how a run steps them (Lightning steps torch schedulers itself; timm schedulers are told
where the run is: :func:`step_timm`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from lightning import Trainer
from timm.scheduler import create_scheduler_v2
from timm.scheduler.scheduler import Scheduler
from torch.optim import SGD, Optimizer
from torch.optim.lr_scheduler import MultiStepLR

from snnlab import validate
from snnlab.validate import InvalidArgument


@dataclass(frozen=True)
class MultiStepFractions:
    """``MultiStepLR`` with milestones given as fractions of the run's ``max_epochs``.

    ``MultiStepFractions([0.5, 0.7, 0.9], max_epochs=100)`` multiplies the rate by ``gamma`` after epochs 50, 70
    and 90 (BNTT's schedule).
    """

    milestones: Sequence[float]
    max_epochs: int
    gamma: float = 0.1

    def __post_init__(self) -> None:
        fractions = list(self.milestones)
        if not fractions or fractions != sorted(fractions) or not all(0.0 < f <= 1.0 for f in fractions):
            raise InvalidArgument("milestones", fractions, "must be increasing fractions in (0, 1]", "multistep")
        validate.positive_int(self.max_epochs, "max_epochs", "multistep")
        validate.positive(self.gamma, "gamma", "multistep")

    @property
    def epochs(self) -> list[int]:
        """The milestones in epochs."""
        return [round(f * self.max_epochs) for f in self.milestones]

    def __call__(self, optimizer: Optimizer) -> MultiStepLR:
        return MultiStepLR(optimizer, self.epochs, self.gamma)


@dataclass(frozen=True)
class WarmupCosine:
    """timm's cosine schedule (``CosineLRScheduler`` through ``create_scheduler_v2``), as timm's train.py runs it.

    Linear warm-up from ``warmup_lr`` over ``warmup_epochs``, a cosine from the optimizer's rate down to ``min_lr``
    over ``max_epochs`` (timm's ``--epochs``; with ``warmup_prefix`` the warm-up comes before them), then
    ``cooldown_epochs`` at ``min_lr``: the run trains :attr:`total_epochs` epochs, as timm computes them.
    ``per_step``: the rate changes after every optimizer update (``t_in_epochs=False``) instead of once per epoch;
    the scheduler then counts time in epochs, fractions included (:func:`step_timm`).
    """

    max_epochs: int
    warmup_epochs: int = 0
    warmup_lr: float = 1e-5
    min_lr: float = 0.0
    cooldown_epochs: int = 0
    warmup_prefix: bool = False
    per_step: bool = False

    def __post_init__(self) -> None:
        validate.positive_int(self.max_epochs, "max_epochs", "warmup_cosine")
        validate.integer(self.warmup_epochs, "warmup_epochs", "warmup_cosine", minimum=0)
        validate.real(self.warmup_lr, "warmup_lr", "warmup_cosine", low=0.0)
        validate.real(self.min_lr, "min_lr", "warmup_cosine", low=0.0)
        validate.integer(self.cooldown_epochs, "cooldown_epochs", "warmup_cosine", minimum=0)
        validate.boolean(self.warmup_prefix, "warmup_prefix", "warmup_cosine")
        validate.boolean(self.per_step, "per_step", "warmup_cosine")

    def _create(self, optimizer: Optimizer) -> tuple[Scheduler, int]:
        return create_scheduler_v2(
            optimizer,
            sched="cosine",
            num_epochs=self.max_epochs,
            warmup_epochs=self.warmup_epochs,
            warmup_lr=self.warmup_lr,
            min_lr=self.min_lr,
            cooldown_epochs=self.cooldown_epochs,
            warmup_prefix=self.warmup_prefix,
            step_on_epochs=not self.per_step,
            updates_per_epoch=1,  # per_step: time in epochs; step_timm passes the fraction of each epoch
        )

    @property
    def total_epochs(self) -> int:
        """Epochs the run trains: the cosine's (with the warm-up prefix) plus the cooldown, from timm."""
        return self._create(SGD([torch.zeros(1, requires_grad=True)], lr=1.0))[1]

    def __call__(self, optimizer: Optimizer) -> Scheduler:
        return self._create(optimizer)[0]


def total_epochs(scheduler: Any, max_epochs: int) -> int:
    """Epochs a run trains: ``trainer.max_epochs``, or the total of a schedule that adds epochs to it
    (:class:`WarmupCosine`'s cooldown and warm-up prefix).  The Trainer's ``max_epochs`` is set to this."""
    return int(getattr(scheduler, "total_epochs", max_epochs))


def interval(scheduler: Any) -> str:
    """When Lightning steps ``scheduler``: ``"step"`` (after each optimizer update) for a per-update timm
    scheduler, else ``"epoch"``."""
    return "step" if isinstance(scheduler, Scheduler) and not scheduler.t_in_epochs else "epoch"


def step_timm(scheduler: Scheduler, trainer: Trainer) -> None:
    """Step a timm scheduler where the run is, as timm's train.py does: ``step(epochs done)`` at the end of an
    epoch, or ``step_update`` after each update, with the updates done counted in epochs (an epoch has
    ``ceil(batches / accumulate_grad_batches)`` updates, as in timm).  The count comes from the trainer's loops,
    so a resumed run continues at the same point."""
    if scheduler.t_in_epochs:
        scheduler.step(trainer.current_epoch + 1)
        return
    accumulate = trainer.accumulate_grad_batches
    updates = math.ceil(trainer.num_training_batches / accumulate)
    done = math.ceil((trainer.fit_loop.epoch_loop.batch_idx + 1) / accumulate)
    scheduler.step_update(trainer.current_epoch + done / updates)


def epoch_end(scheduler: Any, epochs: int) -> None:
    """The scheduler step at the end of an epoch, ``epochs`` epochs into the run (to replay a schedule without
    training: preflight, resume with a new schedule, ``snnlab inspect``): one ``step()`` of a torch scheduler;
    a timm scheduler set to that point."""
    if not isinstance(scheduler, Scheduler):
        scheduler.step()
    elif scheduler.t_in_epochs:
        scheduler.step(epochs)
    else:
        scheduler.step_update(epochs)


def optimizer_and_scheduler(configured: Any) -> tuple[Optimizer, Any]:
    """The optimizer and the scheduler (``None`` without one) of what ``configure_optimizers`` returned."""
    if not isinstance(configured, dict):
        return configured, None
    scheduler = configured.get("lr_scheduler")
    return configured["optimizer"], scheduler.get("scheduler") if isinstance(scheduler, dict) else scheduler

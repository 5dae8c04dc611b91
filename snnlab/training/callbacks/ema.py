"""Model EMA (config group ``ema``): an exponential moving average of the network's weights, kept by timm's
:class:`~timm.utils.ModelEmaV3` and updated after every optimizer step, as timm's ``train.py`` does.

Validation and test run the live network with the EMA weights copied in (``evaluate=true``), so the stateful
neurons are reset as in every batch and the average copy never runs itself.  The average (its weights and update
count) travels in every checkpoint under :data:`CHECKPOINT_KEY`: a resumed run continues the same average, testing
the best checkpoint tests that epoch's average, and ``snnlab eval`` loads the weights the run evaluated with
(:func:`load_evaluated_weights`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import torch
from lightning import Callback, LightningModule, Trainer
from timm.utils import ModelEmaV3
from torch.utils.hooks import RemovableHandle

from snnlab import validate
from snnlab.functional import reset_net

log = logging.getLogger(__name__)

STALE = 0.05
"""Share of the initial weights left in the average at the end of a run above which the run warns."""
CHECKPOINT_KEY = "ema"
"""Checkpoint entry: ``{"state_dict": the EMA weights, "updates": optimizer steps averaged, "evaluate": bool}``."""


class ModelEMA(Callback):
    """Keeps an EMA of ``pl_module.net`` and, with ``evaluate``, validates and tests with it.

    Args:
        decay: the EMA decay per optimizer step, in (0, 1).
        warmup: ramp the decay up as ``min(decay, 1 - (1 + t / warmup_gamma) ** -warmup_power)`` after optimizer
            step ``t + 1`` (timm's ``use_warmup``); in every case timm's first update (``t = 0``) copies the weights.
        warmup_gamma, warmup_power: timm's ``warmup_gamma`` and ``warmup_power``.
        evaluate: validate and test with the EMA weights (``False``: with the trained ones).
        exclude_buffers: copy buffers (batch-norm running statistics) instead of averaging them (timm's
            ``exclude_buffers``): the averaged statistics lag their own running averages in short runs.
        device: where the average is kept (``None``: the network's device).
    """

    def __init__(
        self,
        decay: float,
        warmup: bool = False,
        warmup_gamma: float = 1.0,
        warmup_power: float = 2 / 3,
        evaluate: bool = True,
        exclude_buffers: bool = False,
        device: str | None = None,
    ) -> None:
        self.decay = validate.real(decay, "decay", "ema", low=0.0, high=1.0, low_open=True, high_open=True)
        self.warmup = validate.boolean(warmup, "warmup", "ema")
        self.warmup_gamma = validate.positive(warmup_gamma, "warmup_gamma", "ema")
        self.warmup_power = validate.positive(warmup_power, "warmup_power", "ema")
        self.evaluate = validate.boolean(evaluate, "evaluate", "ema")
        self.exclude_buffers = validate.boolean(exclude_buffers, "exclude_buffers", "ema")
        self.device = _device(device)
        self.ema: ModelEmaV3 | None = None
        self.updates = 0
        self._pending: dict[str, Any] | None = None  # the EMA entry of a checkpoint loaded before the EMA exists
        self._trained: dict[str, torch.Tensor] | None = None  # the trained weights while the EMA ones are in
        self._hooks: list[RemovableHandle] = []

    def _start(self, pl_module: LightningModule) -> ModelEmaV3:
        """The EMA (made from the network's current weights on first use), with a loaded checkpoint's state."""
        if self.ema is None:
            reset_net(pl_module.net)  # the copy starts from the neurons' initial state
            self.ema = ModelEmaV3(
                pl_module.net,
                decay=self.decay,
                use_warmup=self.warmup,
                warmup_gamma=self.warmup_gamma,
                warmup_power=self.warmup_power,
                device=self.device,
                exclude_buffers=self.exclude_buffers,
            )
        if self._pending is not None:
            state, self._pending = self._pending, None
            if state:
                self.ema.module.load_state_dict(state["state_dict"])
                self.updates = int(state["updates"])
            else:
                log.warning("ema: the checkpoint holds no EMA; the average starts from its weights")
                self.ema.set(pl_module.net)
                self.updates = 0
        return self.ema

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        ema = self._start(pl_module)

        def update(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
            self.updates += 1
            ema.update(pl_module.net, step=self.updates)

        # after each step the optimizer takes: automatic, manual (OTTT: one or T per batch), skipped by AMP or not
        self._hooks = [optimizer.register_step_post_hook(update) for optimizer in trainer.optimizers]

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        steps = trainer.estimated_stepping_batches
        kept = self.decay ** max(0, steps - self.updates - 1)
        if not self.warmup and self.evaluate and steps != float("inf") and kept > STALE:
            log.warning(
                f"ema.decay={self.decay}: after the run's {int(steps)} optimizer steps the EMA weights still hold "
                f"{kept:.0%} of the initial ones (batch-norm statistics included), so evaluating with them tests a "
                "half-trained network; use ema.warmup=true, a smaller decay, or more steps"
            )

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks = []

    def _swap_in(self, pl_module: LightningModule) -> None:
        ema = self._start(pl_module)
        if self.evaluate and self._trained is None:
            self._trained = {k: v.detach().clone() for k, v in pl_module.net.state_dict().items()}
            pl_module.net.load_state_dict(ema.module.state_dict())

    def _swap_out(self, pl_module: LightningModule) -> None:
        if self._trained is not None:
            pl_module.net.load_state_dict(self._trained)
            self._trained = None

    def on_validation_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._swap_in(pl_module)

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._swap_out(pl_module)

    def on_test_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._swap_in(pl_module)

    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._swap_out(pl_module)

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        self._swap_out(pl_module)  # before a checkpoint of the interrupted step is written

    def on_save_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        if self._trained is not None:  # saved during evaluation: the checkpoint keeps the trained weights
            checkpoint["state_dict"].update({f"net.{k}": v for k, v in self._trained.items()})
        ema = self._start(pl_module)
        state = {k: v.detach().clone() for k, v in ema.module.state_dict().items()}
        checkpoint[CHECKPOINT_KEY] = {"state_dict": state, "updates": self.updates, "evaluate": self.evaluate}

    def on_load_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        # Lightning restores callbacks before it moves the module to its device: the EMA is made (or loaded) there
        self._pending = checkpoint.get(CHECKPOINT_KEY) or {}
        if self.ema is not None:
            self._start(pl_module)


def _device(device: str | None) -> torch.device | None:
    if device is None:
        return None
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise validate.InvalidArgument(
            "device", device, "must be null (the network's device) or a torch device such as cpu or cuda:0", "ema"
        ) from e


def load_evaluated_weights(module: LightningModule, checkpoint: Mapping[str, Any]) -> str:
    """Load into ``module.net`` the weights a run validated and tested with; returns ``"ema"`` or ``"trained"``."""
    state = checkpoint.get(CHECKPOINT_KEY)
    if not state or not state["evaluate"]:
        return "trained"
    module.net.load_state_dict(state["state_dict"])
    return "ema"

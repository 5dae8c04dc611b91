"""Batch-norm recalibration (``callbacks.bn_recalibration``): short runs whose test numbers mean something.

A batch norm's running statistics start at mean 0 and variance 1 and forget them by ``1 - momentum`` per training
batch: after ``n`` batches ``(1 - momentum) ** n`` of the initial values remain (12 % after 20 batches at 0.1).
A spiking network's pre-activations often vary far less than 1 (0.037 in the default network), so the remainder
inflates the variance used in eval mode several times over and silences the neurons: a 20-batch run that trains
to 77 % tests at chance, and so does ``debug=fdr``.

While that share is at least ``stale`` (1 %: under 44 batches at momentum 0.1; 1 % of a variance of 1 is still
+27 % on a true 0.037), :class:`BNRecalibration` replaces the running statistics, before every validation and test,
by their cumulative average over the last training batches run again through the weights being evaluated, as
:func:`torch.optim.swa_utils.update_bn` does.  Afterwards the training statistics are put back, so training and
checkpoints are exactly those of a run without it; later in a run the statistics are left as they are.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from typing import Any

import torch
from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.utilities.seed import isolate_rng
from torch import nn

from snnlab import validate
from snnlab.functional import reset_net
from snnlab.training.module.classifier import SNNClassifier

log = logging.getLogger(__name__)

STATISTICS = ("running_mean", "running_var", "num_batches_tracked")
"""The buffers of a torch batch norm that recalibration replaces (and restores)."""
CHECKPOINT_KEY = "bn_recalibration"
"""Checkpoint entry: the running means and variances (module state-dict keys) its weights were validated with."""


def batch_norms(module: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """The torch batch norms in ``module`` that keep running statistics (those inside snnlab's BN, tdBN, TEBN and
    BNTT wrappers included: one per time step for BNTT)."""
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


def initial_share(norms: Iterable[nn.modules.batchnorm._BatchNorm]) -> float:
    """The largest share of their initial values the norms' running statistics still hold: ``(1 - momentum) ** n``
    after ``n`` training batches (``momentum=None``, a cumulative average: none after the first batch)."""
    shares = [
        (0.0 if n else 1.0) if bn.momentum is None else (1.0 - bn.momentum) ** n
        for bn in norms
        for n in [int(bn.num_batches_tracked)]
    ]
    return max(shares, default=0.0)


def recalibrate(module: SNNClassifier, inputs: Iterable[torch.Tensor]) -> None:
    """Set the running statistics of every batch norm in ``module`` to the average over ``inputs`` of each batch's
    mean and (unbiased) variance, computed along the module's own path (reset, encoder, network) with every other
    layer in eval mode (dropout off) and no gradient.  Modes and momenta are left as they were."""
    norms = batch_norms(module)
    modes = {m: m.training for m in module.modules()}
    momenta = [bn.momentum for bn in norms]
    module.eval()
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average
        bn.train()
    try:
        with torch.no_grad():
            for x in inputs:
                reset_net(module.net)
                module.outputs(x.to(module.device))
    finally:
        reset_net(module.net)
        for bn, momentum in zip(norms, momenta):
            bn.momentum = momentum
        for m, mode in modes.items():
            m.train(mode)


class BNRecalibration(Callback):
    """Recalibrates the batch norms before validation and test while their statistics are stale (module docstring).

    Args:
        batches: the number of last training batches kept (their inputs, before Mixup) and averaged over.
        stale: recalibrate while the running statistics hold at least this share of their initial values
            (:func:`initial_share`); 0: before every validation and test of the run.

    The kept batches are each rank's own; after recalibrating, the statistics are averaged over the ranks (an
    all-reduce), so every rank evaluates with the same ones, as DDP's buffer broadcast makes them in training
    (``trainer.sync_batchnorm`` already averages them per batch).  With model EMA, the EMA weights (swapped in at
    ``on_validation_start``) are the ones recalibrated: this runs at the evaluation *epoch* start, after every
    ``on_*_start`` hook.  Random draws (a Poisson encoder's) come from a forked generator, so the run's own random
    streams are untouched.  Networks without batch norm (``learning=ottt``) are left alone.

    A checkpoint written after a recalibrated validation of its weights keeps those statistics under
    :data:`CHECKPOINT_KEY`; testing it (the best checkpoint after training) uses them, and so can ``snnlab eval``
    (:func:`load_evaluated_statistics`), so both report the same numbers.
    """

    def __init__(self, batches: int = 10, stale: float = 0.01) -> None:
        self.batches = validate.positive_int(batches, "batches", "bn_recalibration")
        self.stale = validate.real(stale, "stale", "bn_recalibration", low=0.0, high=1.0)
        self.inputs: deque[torch.Tensor] = deque(maxlen=self.batches)
        self._saved: dict[nn.Module, list[torch.Tensor]] | None = None  # the training statistics while evaluating
        self._validated: tuple[int, dict[str, torch.Tensor]] | None = None  # (global step, statistics) validated
        self._loaded: dict[str, torch.Tensor] | None = None  # the statistics of the checkpoint being tested

    def _is_stale(self, norms: list[nn.modules.batchnorm._BatchNorm]) -> bool:
        return bool(norms) and initial_share(norms) >= self.stale

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int) -> None:
        if self._is_stale(batch_norms(pl_module)):
            self.inputs.append(batch[0].detach())
        elif self.inputs and self.inputs[-1].device.type != "cpu":  # kept for a stale best checkpoint's test
            self.inputs = deque((x.cpu() for x in self.inputs), maxlen=self.batches)

    def _recalibrate(self, trainer: Trainer, pl_module: LightningModule) -> None:
        norms = batch_norms(pl_module)
        if trainer.sanity_checking or not self._is_stale(norms):
            return
        if not self.inputs and not (trainer.testing and self._loaded):
            log.warning("bn_recalibration: no training batches seen; the stale running statistics are used as they are")
            return
        assert isinstance(pl_module, SNNClassifier)
        self._saved = {bn: [getattr(bn, name).clone() for name in STATISTICS] for bn in norms}
        if trainer.testing and self._loaded:
            load_evaluated_statistics(pl_module, {CHECKPOINT_KEY: self._loaded})
            return
        with isolate_rng():
            recalibrate(pl_module, self.inputs)
        for bn in norms:
            for name in STATISTICS[:2]:
                getattr(bn, name).copy_(trainer.strategy.reduce(getattr(bn, name), reduce_op="mean"))
        if not trainer.testing:
            names = {bn: name for name, bn in pl_module.named_modules() if bn in self._saved}
            values = {f"{names[bn]}.{b}": getattr(bn, b).clone() for bn in norms for b in STATISTICS[:2]}
            self._validated = (trainer.global_step, values)

    def _restore(self) -> None:
        if self._saved is None:
            return
        for bn, saved in self._saved.items():
            for name, value in zip(STATISTICS, saved):
                getattr(bn, name).copy_(value)
        self._saved = None

    def on_validation_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._recalibrate(trainer, pl_module)

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._restore()

    def on_test_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._recalibrate(trainer, pl_module)

    def on_test_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._restore()

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._loaded = None  # a resumed checkpoint's statistics are not tested

    def on_save_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        if self._validated is not None and self._validated[0] == trainer.global_step:  # validated these weights
            checkpoint[CHECKPOINT_KEY] = self._validated[1]

    def on_load_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        self._loaded = checkpoint.get(CHECKPOINT_KEY)

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        self._restore()  # before a checkpoint of the interrupted step is written


def load_evaluated_statistics(module: LightningModule, checkpoint: dict[str, Any]) -> bool:
    """Load into ``module`` the recalibrated batch-norm statistics its checkpoint was validated with (after
    :func:`~snnlab.training.callbacks.ema.load_evaluated_weights`); whether the checkpoint had any."""
    statistics = checkpoint.get(CHECKPOINT_KEY) or {}
    for name, value in statistics.items():
        module.get_buffer(name).copy_(value)
    return bool(statistics)

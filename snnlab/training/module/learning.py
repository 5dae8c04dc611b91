"""Learning modes (``learning`` components): how a training batch becomes gradients and optimizer steps.

* ``bptt`` (default): backpropagation through time.  All ``T`` steps run forward, one loss on the read-out
  scores, one backward through the whole unrolled graph; memory grows linearly with ``T``.  Lightning's
  automatic optimization does the rest (precision, clipping, accumulation), exactly as before learning modes.
* ``ottt``: online training through time (Xiao et al., NeurIPS 2022).  For each time step: one forward step,
  that step's loss, one backward through that step only (membranes are detached between steps and each layer
  after a neuron takes its weight gradient from the presynaptic trace), and either gradients summed over the
  ``T`` steps with one optimizer step per batch (OTTT_A) or an optimizer step at every time step (OTTT_O,
  ``online_update=True``).  Memory is constant in ``T``.  This needs Lightning's manual optimization, so the
  mode does the stepping itself through Lightning's hooks (``manual_backward`` for precision plugins,
  ``clip_gradients`` after unscaling, scheduler stepping, no gradient sync in DDP until the last backward).

Validation, test and prediction are the same in every mode (the module's ``compute_loss``: all steps, scores
from the read-out of the outputs).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any, ClassVar

import torch
from lightning import LightningModule
from lightning.pytorch.strategies import ParallelStrategy
from timm.scheduler.scheduler import Scheduler
from torch import nn

from snnlab import registry, validate
from snnlab.base import MemoryModule
from snnlab.functional import reset_net
from snnlab.layers import Dropout, NormWrapper, OTTTSequential
from snnlab.neurons.base import BaseNode
from snnlab.training.module.losses import MSE
from snnlab.training.module.schedulers import interval as schedule_interval

Batch = tuple[torch.Tensor, torch.Tensor]
"""``(inputs, targets)`` of one step."""

CLIP_ALGORITHMS = ("norm", "value")


class LearningMode:
    """Base of the learning modes; the defaults are those of BPTT under Lightning's automatic optimization."""

    automatic_optimization: ClassVar[bool] = True

    def step_mode(self, configured: str) -> str:
        """The step mode the network runs in, given the run's ``step_mode``."""
        return configured

    def prepare(self, net: nn.Module) -> nn.Module:
        """Check that ``net`` can be trained in this mode (an error names the offending layer); the net to train."""
        return net

    def check_trainer(self, trainer: Mapping[str, Any]) -> None:
        """Reject ``lightning.Trainer`` arguments (the ``trainer`` config) that do not apply in this mode."""

    def training_step(self, module: LightningModule, batch: Batch, batch_idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(loss, scores)`` of one training batch (in manual optimization, after the optimizer steps)."""
        raise NotImplementedError

    def on_before_optimizer_step(self, module: LightningModule, optimizer: torch.optim.Optimizer) -> None:
        """Called after the gradients are complete (and unscaled), before each optimizer step."""

    def on_train_epoch_end(self, module: LightningModule) -> None:
        """Called at the end of each training epoch, after validation."""


@registry.register("learning", "bptt")
class BPTT(LearningMode):
    """Backpropagation through time: forward all ``T`` steps, one loss, one backward (automatic optimization)."""

    def prepare(self, net: nn.Module) -> nn.Module:
        for name, m in net.named_modules():
            if getattr(m, "online", False):
                raise ValueError(
                    f"layer {name!r} is {type(m).__name__}, an online-learning neuron (its membrane is detached "
                    "between time steps, so backpropagation through time cannot reach earlier steps): train it "
                    "with learning=ottt, or use a BPTT neuron such as neuron=lif"
                )
        return net

    def training_step(self, module: LightningModule, batch: Batch, batch_idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        return module.compute_loss(batch)


@registry.register("learning", "ottt")
class OTTT(LearningMode):
    """Online training through time: per-step forward, loss and backward; memory constant in ``T``.

    Args:
        online_update: ``False``: OTTT_A, gradients summed over the ``T`` steps, one optimizer step per batch;
            ``True``: OTTT_O, one optimizer step after every time step (``T`` per batch; Lightning's
            ``global_step`` counts them).
        mse_weight: ``λ`` of the per-step loss ``((1-λ)·loss(o_t, y) + λ·MSE(o_t, one-hot(y))) / T`` where
            ``loss`` is ``classifier.loss`` and ``o_t`` the read-out of step ``t``'s output (OTTT: 0.05 with
            ``ce`` on CIFAR).
        gradient_clip_val: clip the gradients before each optimizer step (``None``: no clipping); Lightning's
            ``trainer.gradient_clip_val`` only works with automatic optimization, so OTTT takes it here.
        gradient_clip_algorithm: ``"norm"`` or ``"value"``.

    The network runs in step mode ``s`` whatever the run's ``step_mode`` (it is fed one step at a time); its
    ``nn.Sequential`` containers become :class:`~snnlab.layers.OTTTSequential`, which route the
    ``[spike, trace]`` pairs of the online neurons (see :func:`online_network`).
    """

    automatic_optimization: ClassVar[bool] = False

    def __init__(
        self,
        online_update: bool = False,
        mse_weight: float = 0.0,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str = "norm",
    ) -> None:
        self.online_update = validate.boolean(online_update, "online_update", "ottt")
        self.mse_weight = validate.real(mse_weight, "mse_weight", "ottt", low=0.0, high=1.0)
        if gradient_clip_val is not None:
            gradient_clip_val = validate.real(gradient_clip_val, "gradient_clip_val", "ottt", low=0.0)
        self.gradient_clip_val = gradient_clip_val
        self.gradient_clip_algorithm = validate.one_of(
            gradient_clip_algorithm, CLIP_ALGORITHMS, "gradient_clip_algorithm", "ottt"
        )

    def step_mode(self, configured: str) -> str:
        return "s"

    def prepare(self, net: nn.Module) -> nn.Module:
        return online_network(net)

    def check_trainer(self, trainer: Mapping[str, Any]) -> None:
        if trainer.get("gradient_clip_val"):
            raise ValueError(
                "learning=ottt steps the optimizer itself (Lightning's manual optimization), where "
                "trainer.gradient_clip_val does not apply: set learning.gradient_clip_val instead"
            )
        if trainer.get("accumulate_grad_batches", 1) != 1:
            raise ValueError(
                "learning=ottt steps the optimizer itself (Lightning's manual optimization), where "
                "trainer.accumulate_grad_batches does not apply (OTTT_A already sums the gradients of the T steps); "
                "use a larger data.batch_size"
            )

    def training_step(self, module: LightningModule, batch: Batch, batch_idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Reset, then per time step: forward, loss, ``manual_backward``, and the optimizer step(s).

        Returns the summed per-step losses (the objective) and the scores of the summed outputs (as BPTT's).
        """
        optimizer = module.optimizers()
        if isinstance(optimizer, list):
            raise ValueError(f"learning=ottt takes one optimizer, configure_optimizers gave {len(optimizer)}")
        x, y = batch
        reset_net(module.net)
        x_seq = module.encoder(x) if module.encoder is not None else x
        steps = len(x_seq)
        losses, outputs = [], []
        for t, out in enumerate(stepwise_outputs(module.net, x_seq)):
            last = t == steps - 1
            if self.online_update or t == 0:
                optimizer.zero_grad()
            loss, scores = module.loss(out[None], y)
            if self.mse_weight:
                loss = (1.0 - self.mse_weight) * loss + self.mse_weight * MSE().on_scores(scores, y)
            loss = loss / steps
            with nullcontext() if self.online_update or last else no_backward_sync(module):
                module.manual_backward(loss)
            if self.online_update or last:
                optimizer.step()
            losses.append(loss.detach())
            outputs.append(out.detach())
        self._step_schedulers(module, "step", batch_idx)
        return torch.stack(losses).sum(), module.readout(torch.stack(outputs))

    def on_before_optimizer_step(self, module: LightningModule, optimizer: torch.optim.Optimizer) -> None:
        if self.gradient_clip_val:
            module.clip_gradients(optimizer, self.gradient_clip_val, self.gradient_clip_algorithm)

    def on_train_epoch_end(self, module: LightningModule) -> None:
        self._step_schedulers(module, "epoch", module.current_epoch)

    @staticmethod
    def _step_schedulers(module: LightningModule, interval: str, index: int) -> None:
        """Step the schedulers of ``interval`` as Lightning's automatic optimization would (frequency, plateau); a
        timm scheduler's interval is its own (Lightning keeps no interval in manual optimization)."""
        trainer = module.trainer
        for config in trainer.lr_scheduler_configs:
            own = schedule_interval(config.scheduler) if isinstance(config.scheduler, Scheduler) else config.interval
            if own != interval or (index + 1) % config.frequency:
                continue
            metric = None
            if config.reduce_on_plateau:
                metric = trainer.callback_metrics.get(config.monitor)
                if metric is None:
                    if config.strict:
                        raise RuntimeError(
                            f"ReduceLROnPlateau monitors {config.monitor!r}, which was not logged; logged: "
                            f"{sorted(trainer.callback_metrics)}"
                        )
                    continue
            module.lr_scheduler_step(config.scheduler, metric)


def stepwise_outputs(net: nn.Module, x_seq: torch.Tensor) -> Iterator[torch.Tensor]:
    """Run ``net`` one step of ``x_seq`` at a time, yielding each step's output value (the spikes of the
    ``[spike, trace]`` pair an online network with a spiking head gives in training).  In OTTT each step is
    backpropagated before the next is taken, which keeps memory constant in ``T``."""
    for x_t in x_seq:
        out = net(x_t)
        yield out[0] if isinstance(out, (list, tuple)) else out


def no_backward_sync(module: LightningModule) -> AbstractContextManager[Any]:
    """In DDP, a backward that only accumulates gradients locally (synced by the batch's last backward)."""
    strategy = module.trainer.strategy
    return strategy.block_backward_sync() if isinstance(strategy, ParallelStrategy) else nullcontext()


# Stateful layers that give spikes and traces the same treatment: the dropout mask is drawn once per reset.
TRACE_SAFE_STATE: tuple[type[nn.Module], ...] = (Dropout,)


def online_network(net: nn.Module) -> nn.Module:
    """``net`` in its online form for OTTT: every ``nn.Sequential`` becomes an :class:`OTTTSequential`.

    Raises a ``ValueError`` naming the first layer that cannot run online: a neuron that is not online (it would
    keep the graph of earlier steps), a batch-statistics norm or another stateful layer (layers after a neuron
    run twice per step, on the spikes and on the traces), or a module that runs neurons inside its own
    ``forward`` (only ``nn.Sequential`` containers route ``[spike, trace]`` pairs).
    """
    for name, m in net.named_modules():
        layer = f"learning=ottt: layer {name or 'net'!r} ({type(m).__name__})"
        if isinstance(m, BaseNode) and not getattr(m, "online", False):
            raise ValueError(
                f"{layer} is not an online neuron: its membrane carries the graph of earlier time steps; "
                "use neuron=ottt_lif"
            )
        if isinstance(m, (NormWrapper, nn.modules.batchnorm._NormBase)):
            raise ValueError(
                f"{layer} normalises with batch statistics, which OTTT would compute twice per step (on the spikes "
                "and on the traces); train without BN: norm=none (model=ottt_vgg standardizes its conv weights "
                "instead)"
            )
        if isinstance(m, MemoryModule) and not isinstance(m, (BaseNode, *TRACE_SAFE_STATE)):
            raise ValueError(
                f"{layer} is stateful: OTTT runs the layers after a neuron on the spikes and on the traces, which "
                "would advance its state twice per step"
            )
    _check_routing(net, "", pair=False)
    return _to_ottt_sequential(net)


def _check_routing(module: nn.Module, name: str, pair: bool) -> bool:
    """Whether ``module``'s output is a ``[spike, trace]`` pair, given whether its input is; raises where a pair
    cannot be routed."""
    layer = f"learning=ottt: layer {name or 'net'!r} ({type(module).__name__})"
    if type(module) in (nn.Sequential, OTTTSequential):
        for child_name, child in module.named_children():
            pair = _check_routing(child, f"{name}.{child_name}" if name else child_name, pair)
        return pair
    if isinstance(module, BaseNode):
        if pair:
            raise ValueError(
                f"{layer} takes the [spike, trace] output of an earlier neuron with no weighted layer in between"
            )
        return True
    if any(isinstance(m, BaseNode) for m in module.modules()):
        raise ValueError(
            f"{layer} runs spiking neurons inside its own forward, which cannot route the [spike, trace] pairs of "
            "online neurons; build the network from nn.Sequential containers"
        )
    has_parameters = next(module.parameters(), None) is not None
    return pair and not has_parameters


def _to_ottt_sequential(module: nn.Module) -> nn.Module:
    if type(module) not in (nn.Sequential, OTTTSequential):
        return module
    online = OTTTSequential(OrderedDict((n, _to_ottt_sequential(c)) for n, c in module.named_children()))
    return online.train(module.training)

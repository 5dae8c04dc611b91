"""Batch normalisation through time (BNTT): ``T`` independent BNs, one per time step.

A step counter ``t`` (a memory, cleared by ``reset()``) selects the BN; both step modes are supported and a
step past ``T`` is an error.
"""

from __future__ import annotations

import torch
from torch import nn

from snnlab.base import MemoryModule
from snnlab.layers.batch_norm import BN_HYPERPARAMETERS, NormWrapper, _BatchNorm


class _BatchNormThroughTimeNd(MemoryModule, NormWrapper):
    """BNTT: ``self.bns[t]`` (a ``torch.nn.BatchNormXd``) normalises step ``t``.

    The layer exposes the hyper-parameters its ``T`` BNs share (``num_features``, ``eps``, ``momentum``,
    ``affine``, ``track_running_stats``; assigning one sets it on every step's BN).  Parameters and running
    statistics are per step, so there is no single ``weight`` or ``running_mean`` to expose: use
    ``bns[t].weight``, ``bns[t].running_mean``, ...
    """

    bn_attributes = BN_HYPERPARAMETERS

    def __init__(
        self,
        T: int,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        step_mode: str = "s",
    ) -> None:
        super().__init__()
        self.T = self.checked_steps(T)
        self.check_bn_arguments(eps, momentum)
        self.bns = nn.ModuleList(
            self.bn_type(num_features, eps, momentum, affine, track_running_stats) for _ in range(self.T)
        )
        self.step_mode = step_mode
        self.register_memory("t", 0)

    def inner_bns(self) -> list[_BatchNorm]:
        return list(self.bns)

    def single_step_forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x, multi_step=False)
        if self.t >= self.T:
            raise RuntimeError(
                f"{type(self).__name__} has one BN per step for T={self.T} steps and all were used; call "
                "reset() (or snnlab.functional.reset_net(model)) before the next sequence"
            )
        y = self.bns[self.t](x)
        self.t += 1
        return y

    def multi_step_forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        self.check_steps(x_seq)
        return torch.stack([self.single_step_forward(x) for x in x_seq])


class BatchNormThroughTime1d(_BatchNormThroughTimeNd):
    """BNTT over ``[B, C]`` or ``[B, C, L]`` steps."""

    dim = 1


class BatchNormThroughTime2d(_BatchNormThroughTimeNd):
    """BNTT over ``[B, C, H, W]`` steps."""

    dim = 2


class BatchNormThroughTime3d(_BatchNormThroughTimeNd):
    """BNTT over ``[B, C, D, H, W]`` steps."""

    dim = 3

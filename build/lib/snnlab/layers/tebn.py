"""Temporal effective batch normalisation (TEBN), multi-step only: ``y[t] = k[t] · BN(x)[t]``.

``BN`` is batch norm with statistics over ``T·B`` (and space); ``k`` holds one learnable scale per time step
(initialised to 1), shared by every channel and position.
"""

from __future__ import annotations

import torch
from torch import nn

from snnlab.layers.batch_norm import _SingleBN


class _TemporalEffectiveBatchNormNd(_SingleBN):
    """TEBN for inputs of ``T`` steps.

    The other arguments and the attributes (``running_mean``, ``weight``, ``momentum``, ...) are those of the
    wrapped ``torch.nn.BatchNormXd``.
    """

    step_modes = ("m",)

    def __init__(
        self,
        T: int,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        step_mode: str = "m",
    ) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, step_mode=step_mode)
        self.T = self.checked_steps(T)
        self.k = nn.Parameter(torch.ones(self.T))

    def multi_step_forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        self.check_steps(x_seq)
        return super().multi_step_forward(x_seq) * self.k.view(-1, *([1] * (x_seq.dim() - 1)))


class TemporalEffectiveBatchNorm1d(_TemporalEffectiveBatchNormNd):
    """TEBN over ``[T, B, C]`` or ``[T, B, C, L]``."""

    dim = 1


class TemporalEffectiveBatchNorm2d(_TemporalEffectiveBatchNormNd):
    """TEBN over ``[T, B, C, H, W]``."""

    dim = 2


class TemporalEffectiveBatchNorm3d(_TemporalEffectiveBatchNormNd):
    """TEBN over ``[T, B, C, D, H, W]``."""

    dim = 3

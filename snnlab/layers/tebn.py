"""Temporal effective batch normalisation (TEBN), multi-step only: ``y[t] = k[t] · BN(x)[t]``.

``BN`` is batch norm with statistics over ``T·B`` (and space); ``k`` holds one learnable scale per time step
(initialised to 1), shared by every channel and position.
"""

from __future__ import annotations

import torch
from torch import nn

from snnlab.layers.batch_norm import NormWrapper


class _TemporalEffectiveBatchNormNd(NormWrapper):
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
        super().__init__()
        if int(T) < 1:
            raise ValueError(f"{type(self).__name__}: T must be >= 1, got {T}")
        self.T = int(T)
        self.bn = self.make_bn(num_features, eps, momentum, affine, track_running_stats)
        self.k = nn.Parameter(torch.ones(self.T))
        self.step_mode = step_mode

    def multi_step_forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        self.check_input(x_seq, multi_step=True)
        if x_seq.shape[0] != self.T:
            raise ValueError(
                f"{type(self).__name__} was built for T={self.T} time steps but got an input with "
                f"T={x_seq.shape[0]} (shape {tuple(x_seq.shape)})"
            )
        y = self.fold_bn(self.bn, x_seq)
        return y * self.k.view(-1, *([1] * (x_seq.dim() - 1)))

    def extra_repr(self) -> str:
        return f"T={self.T}, {super().extra_repr()}"


class TemporalEffectiveBatchNorm1d(_TemporalEffectiveBatchNormNd):
    """TEBN over ``[T, B, C]`` / ``[T, B, C, L]``."""

    dim = 1


class TemporalEffectiveBatchNorm2d(_TemporalEffectiveBatchNormNd):
    """TEBN over ``[T, B, C, H, W]``."""

    dim = 2


class TemporalEffectiveBatchNorm3d(_TemporalEffectiveBatchNormNd):
    """TEBN over ``[T, B, C, D, H, W]``."""

    dim = 3

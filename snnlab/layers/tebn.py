"""Temporal effective batch normalisation (TEBN), multi-step only: ``y[t] = k[t] · BN(x)[t]``.

``BN`` is batch norm with statistics over ``T·B`` (and space); ``k`` holds one learnable scale per time step
(initialised to 1), shared by every channel and position.
"""

from __future__ import annotations

import torch
from torch import nn

from snnlab.layers.batch_norm import NormWrapper, by_dims


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
        self.check_steps(x_seq)
        y = self.fold_bn(self.bn, x_seq)
        return y * self.k.view(-1, *([1] * (x_seq.dim() - 1)))

    def extra_repr(self) -> str:
        return f"T={self.T}, {super().extra_repr()}"


TemporalEffectiveBatchNorm1d, TemporalEffectiveBatchNorm2d, TemporalEffectiveBatchNorm3d = by_dims(
    _TemporalEffectiveBatchNormNd, "TemporalEffectiveBatchNorm", "TEBN (multi-step only)"
)

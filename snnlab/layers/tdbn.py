"""Threshold-dependent batch normalisation (tdBN), multi-step only.

``y = λ · αV_th (x - E[x]) / sqrt(Var[x] + ε) + β`` with per-channel statistics over T, B and space.  With the
inner BN computing ``bn(x) = λ x̂ + β`` this is ``αV_th · (bn(x) - β) + β``, so the BN's own parameters and
running statistics are kept (and fold into a preceding conv, see :func:`snnlab.layers.fuse_conv_bn`).
Residual branches conventionally use ``α = 1/√2``.
"""

from __future__ import annotations

import torch

from snnlab.layers.batch_norm import _SingleBN
from snnlab.validate import positive, real


class _ThresholdDependentBatchNormNd(_SingleBN):
    """tdBN with output scale ``αV_th`` (``alpha``, ``v_th``).

    The other arguments and the attributes (``running_mean``, ``weight``, ``momentum``, ...) are those of the
    wrapped ``torch.nn.BatchNormXd``.
    """

    step_modes = ("m",)

    def __init__(
        self,
        alpha: float,
        v_th: float,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        step_mode: str = "m",
    ) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, step_mode=step_mode)
        self.alpha = positive(alpha, "alpha", type(self).__name__)
        self.v_th = real(v_th, "v_th", type(self).__name__)

    @property
    def scale(self) -> float:
        """The factor ``αV_th`` applied to the normalised input."""
        return self.alpha * self.v_th

    def multi_step_forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        y = super().multi_step_forward(x_seq)
        if self.bias is None:
            return y * self.scale
        shift = self.bias.view(-1, *([1] * (x_seq.dim() - 3)))
        return (y - shift) * self.scale + shift

    def extra_repr(self) -> str:
        return f"alpha={self.alpha:g}, v_th={self.v_th:g}, {super().extra_repr()}"


class ThresholdDependentBatchNorm1d(_ThresholdDependentBatchNormNd):
    """tdBN over ``[T, B, C]`` or ``[T, B, C, L]``."""

    dim = 1


class ThresholdDependentBatchNorm2d(_ThresholdDependentBatchNormNd):
    """tdBN over ``[T, B, C, H, W]``."""

    dim = 2


class ThresholdDependentBatchNorm3d(_ThresholdDependentBatchNormNd):
    """tdBN over ``[T, B, C, D, H, W]``."""

    dim = 3

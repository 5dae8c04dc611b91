"""Normaliser-free layers of OTTT's networks: scaled weight standardization conv and a constant output scale.

OTTT trains without batch norm (whose batch statistics do not fit online, per-step learning): each conv
standardizes its own weight (NF-Net's scaled weight standardization) and each neuron's output is multiplied by a
constant (2.74 in the official code) that restores the signal's scale.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.common_types import _size_2_t

from snnlab.base import StatelessModule
from snnlab.layers.stateless import Conv2d, Device, PaddingMode
from snnlab.validate import positive, real


class ScaledWSConv2d(Conv2d):
    """``Conv2d`` with scaled weight standardization: the convolution uses, per output channel,

    ``Ŵ = gain · (W - mean(W)) / sqrt(Var(W) · fan_in + eps)``

    (mean and unbiased variance over the channel's ``fan_in = in_channels/groups · kh · kw`` weights), so every
    output channel starts with unit-variance pre-activations for unit-variance inputs.

    Args:
        gain: learn one gain per output channel (init 1); ``False``: no gain.
        eps: added to ``Var(W) · fan_in`` (1e-4 in OTTT's code).
        Other arguments as :class:`snnlab.layers.Conv2d`.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: _size_2_t,
        stride: _size_2_t = 1,
        padding: _size_2_t | str = 0,
        dilation: _size_2_t = 1,
        groups: int = 1,
        bias: bool = True,
        gain: bool = True,
        eps: float = 1e-4,
        padding_mode: PaddingMode = "zeros",
        device: Device = None,
        dtype: torch.dtype | None = None,
        *,
        step_mode: str = "s",
    ) -> None:
        positive(eps, "eps", "ScaledWSConv2d")
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
            padding_mode,
            device,
            dtype,
            step_mode=step_mode,
        )
        self.eps = float(eps)
        self.gain = nn.Parameter(torch.ones(out_channels, 1, 1, 1, device=device, dtype=dtype)) if gain else None

    def standardized_weight(self) -> torch.Tensor:
        """The weight the convolution uses, ``Ŵ``."""
        w = self.weight
        fan_in = w[0].numel()
        mean = w.mean(dim=(1, 2, 3), keepdim=True)
        var = w.var(dim=(1, 2, 3), keepdim=True)
        w = (w - mean) / (var * fan_in + self.eps).sqrt()
        return w if self.gain is None else w * self.gain

    def single_step_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.standardized_weight(), self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, gain={self.gain is not None}, eps={self.eps:g}"


class Scale(StatelessModule):
    """Multiply the input by a constant ``scale`` (OTTT puts 2.74 after every neuron instead of a norm)."""

    def __init__(self, scale: float, step_mode: str = "s") -> None:
        super().__init__()
        self.scale = real(scale, "scale", "Scale")
        self.step_mode = step_mode

    def single_step_forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale

    def multi_step_forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        return x_seq * self.scale

    def extra_repr(self) -> str:
        return f"scale={self.scale:g}, {super().extra_repr()}"

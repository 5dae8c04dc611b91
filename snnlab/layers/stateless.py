"""Step-mode versions of the stateless ``torch.nn`` layers a network needs.

Each class subclasses its ``torch.nn`` namesake, takes the same constructor arguments plus a keyword
``step_mode``, and keeps the torch state dict.  In mode ``m`` it folds time into the batch, so
``Conv2d(..., step_mode="m")`` maps ``[T, B, C, H, W]`` to ``[T, B, C', H', W']``.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn
from torch.nn.common_types import (
    _ratio_any_t,
    _size_1_t,
    _size_2_t,
    _size_3_t,
    _size_any_opt_t,
    _size_any_t,
)

from snnlab.base import StatelessModule, StepModule

PaddingMode = Literal["zeros", "reflect", "replicate", "circular"]
Device = torch.device | str | None


class _StepLayer(StatelessModule):
    """Base of the twins below: ``class X(_StepLayer, nn.X)`` runs ``nn.X`` once per step."""

    def __init__(self, *args: Any, step_mode: str = "s", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # the torch class's constructor, next in the MRO
        self.step_mode = step_mode

    def single_step_forward(self, x: torch.Tensor) -> torch.Tensor:
        # StepModule.forward dispatches on the step mode; the torch class after it in the MRO computes one step
        return super(StepModule, self).forward(x)


class Conv1d(_StepLayer, nn.Conv1d):
    """``torch.nn.Conv1d`` over ``[B, C, L]`` steps."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: _size_1_t,
        stride: _size_1_t = 1,
        padding: _size_1_t | str = 0,
        dilation: _size_1_t = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: PaddingMode = "zeros",
        device: Device = None,
        dtype: torch.dtype | None = None,
        *,
        step_mode: str = "s",
    ) -> None:
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


class Conv2d(_StepLayer, nn.Conv2d):
    """``torch.nn.Conv2d`` over ``[B, C, H, W]`` steps."""

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
        padding_mode: PaddingMode = "zeros",
        device: Device = None,
        dtype: torch.dtype | None = None,
        *,
        step_mode: str = "s",
    ) -> None:
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


class Conv3d(_StepLayer, nn.Conv3d):
    """``torch.nn.Conv3d`` over ``[B, C, D, H, W]`` steps."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: _size_3_t,
        stride: _size_3_t = 1,
        padding: _size_3_t | str = 0,
        dilation: _size_3_t = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: PaddingMode = "zeros",
        device: Device = None,
        dtype: torch.dtype | None = None,
        *,
        step_mode: str = "s",
    ) -> None:
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


class ConvTranspose2d(_StepLayer, nn.ConvTranspose2d):
    """``torch.nn.ConvTranspose2d`` over ``[B, C, H, W]`` steps (the output size follows from the arguments)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: _size_2_t,
        stride: _size_2_t = 1,
        padding: _size_2_t = 0,
        output_padding: _size_2_t = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: _size_2_t = 1,
        padding_mode: PaddingMode = "zeros",
        device: Device = None,
        dtype: torch.dtype | None = None,
        *,
        step_mode: str = "s",
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            output_padding,
            groups,
            bias,
            dilation,
            padding_mode,
            device,
            dtype,
            step_mode=step_mode,
        )


class Linear(_StepLayer, nn.Linear):
    """``torch.nn.Linear`` over ``[B, ..., in_features]`` steps."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        device: Device = None,
        dtype: torch.dtype | None = None,
        *,
        step_mode: str = "s",
    ) -> None:
        super().__init__(in_features, out_features, bias, device, dtype, step_mode=step_mode)


class MaxPool1d(_StepLayer, nn.MaxPool1d):
    """``torch.nn.MaxPool1d`` over ``[B, C, L]`` steps."""

    def __init__(
        self,
        kernel_size: _size_any_t,
        stride: _size_any_t | None = None,
        padding: _size_any_t = 0,
        dilation: _size_any_t = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
        *,
        step_mode: str = "s",
    ) -> None:
        super().__init__(kernel_size, stride, padding, dilation, return_indices, ceil_mode, step_mode=step_mode)


class MaxPool2d(_StepLayer, nn.MaxPool2d):
    """``torch.nn.MaxPool2d`` over ``[B, C, H, W]`` steps."""

    def __init__(
        self,
        kernel_size: _size_any_t,
        stride: _size_any_t | None = None,
        padding: _size_any_t = 0,
        dilation: _size_any_t = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
        *,
        step_mode: str = "s",
    ) -> None:
        super().__init__(kernel_size, stride, padding, dilation, return_indices, ceil_mode, step_mode=step_mode)


class MaxPool3d(_StepLayer, nn.MaxPool3d):
    """``torch.nn.MaxPool3d`` over ``[B, C, D, H, W]`` steps."""

    def __init__(
        self,
        kernel_size: _size_any_t,
        stride: _size_any_t | None = None,
        padding: _size_any_t = 0,
        dilation: _size_any_t = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
        *,
        step_mode: str = "s",
    ) -> None:
        super().__init__(kernel_size, stride, padding, dilation, return_indices, ceil_mode, step_mode=step_mode)


class AvgPool1d(_StepLayer, nn.AvgPool1d):
    """``torch.nn.AvgPool1d`` over ``[B, C, L]`` steps."""

    def __init__(
        self,
        kernel_size: _size_1_t,
        stride: _size_1_t | None = None,
        padding: _size_1_t = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        *,
        step_mode: str = "s",
    ) -> None:
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad, step_mode=step_mode)


class AvgPool2d(_StepLayer, nn.AvgPool2d):
    """``torch.nn.AvgPool2d`` over ``[B, C, H, W]`` steps."""

    def __init__(
        self,
        kernel_size: _size_2_t,
        stride: _size_2_t | None = None,
        padding: _size_2_t = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
        *,
        step_mode: str = "s",
    ) -> None:
        super().__init__(
            kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, step_mode=step_mode
        )


class AvgPool3d(_StepLayer, nn.AvgPool3d):
    """``torch.nn.AvgPool3d`` over ``[B, C, D, H, W]`` steps."""

    def __init__(
        self,
        kernel_size: _size_3_t,
        stride: _size_3_t | None = None,
        padding: _size_3_t = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
        *,
        step_mode: str = "s",
    ) -> None:
        super().__init__(
            kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, step_mode=step_mode
        )


class AdaptiveAvgPool1d(_StepLayer, nn.AdaptiveAvgPool1d):
    """``torch.nn.AdaptiveAvgPool1d`` over ``[B, C, L]`` steps."""

    def __init__(self, output_size: _size_any_opt_t, *, step_mode: str = "s") -> None:
        super().__init__(output_size, step_mode=step_mode)


class AdaptiveAvgPool2d(_StepLayer, nn.AdaptiveAvgPool2d):
    """``torch.nn.AdaptiveAvgPool2d`` over ``[B, C, H, W]`` steps."""

    def __init__(self, output_size: _size_any_opt_t, *, step_mode: str = "s") -> None:
        super().__init__(output_size, step_mode=step_mode)


class AdaptiveAvgPool3d(_StepLayer, nn.AdaptiveAvgPool3d):
    """``torch.nn.AdaptiveAvgPool3d`` over ``[B, C, D, H, W]`` steps."""

    def __init__(self, output_size: _size_any_opt_t, *, step_mode: str = "s") -> None:
        super().__init__(output_size, step_mode=step_mode)


class AdaptiveMaxPool2d(_StepLayer, nn.AdaptiveMaxPool2d):
    """``torch.nn.AdaptiveMaxPool2d`` over ``[B, C, H, W]`` steps."""

    def __init__(self, output_size: _size_any_opt_t, return_indices: bool = False, *, step_mode: str = "s") -> None:
        super().__init__(output_size, return_indices, step_mode=step_mode)


class Flatten(_StepLayer, nn.Flatten):
    """``torch.nn.Flatten`` per step: ``start_dim`` and ``end_dim`` count from the batch dimension of a step."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1, *, step_mode: str = "s") -> None:
        super().__init__(start_dim, end_dim, step_mode=step_mode)


class Upsample(_StepLayer, nn.Upsample):
    """``torch.nn.Upsample`` over ``[B, C, ...]`` steps."""

    def __init__(
        self,
        size: _size_any_t | None = None,
        scale_factor: _ratio_any_t | None = None,
        mode: str = "nearest",
        align_corners: bool | None = None,
        recompute_scale_factor: bool | None = None,
        *,
        step_mode: str = "s",
    ) -> None:
        super().__init__(size, scale_factor, mode, align_corners, recompute_scale_factor, step_mode=step_mode)


class Identity(_StepLayer, nn.Identity):
    """``torch.nn.Identity`` with a step mode (extra arguments are ignored, as in torch)."""

    def __init__(self, *args: Any, step_mode: str = "s", **kwargs: Any) -> None:
        super().__init__(*args, step_mode=step_mode, **kwargs)


class TimeFold(StatelessModule):
    """Wrap any stateless module (or ``nn.Sequential``) so it runs in either step mode."""

    wraps_torch_layers = True

    def __init__(self, *modules: nn.Module, step_mode: str = "s") -> None:
        super().__init__()
        self.module = modules[0] if len(modules) == 1 else nn.Sequential(*modules)
        self.step_mode = step_mode

    def single_step_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x)

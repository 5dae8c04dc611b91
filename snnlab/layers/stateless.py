"""Step-mode versions of the stateless ``torch.nn`` layers a network needs.

Each class takes the ``torch.nn`` constructor arguments plus ``step_mode``; in mode ``m`` it folds time into
the batch, so ``Conv2d(..., step_mode="m")`` maps ``[T, B, C, H, W]`` to ``[T, B, C', H', W']``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from snnlab.base import FoldTime


def _with_step_mode(base: type[nn.Module]) -> type[FoldTime]:
    def __init__(self: FoldTime, *args: Any, step_mode: str = "s", **kwargs: Any) -> None:
        base.__init__(self, *args, **kwargs)
        self.step_mode = step_mode

    def single_step_forward(self: FoldTime, x: torch.Tensor) -> torch.Tensor:
        return base.forward(self, x)

    return type(
        base.__name__,
        (FoldTime, base),
        {
            "__init__": __init__,
            "single_step_forward": single_step_forward,
            "__module__": __name__,
            "__doc__": f"``torch.nn.{base.__name__}`` with a ``step_mode`` (mode ``m`` folds T into the batch).",
        },
    )


Conv1d = _with_step_mode(nn.Conv1d)
Conv2d = _with_step_mode(nn.Conv2d)
Conv3d = _with_step_mode(nn.Conv3d)
ConvTranspose2d = _with_step_mode(nn.ConvTranspose2d)
Linear = _with_step_mode(nn.Linear)
MaxPool1d = _with_step_mode(nn.MaxPool1d)
MaxPool2d = _with_step_mode(nn.MaxPool2d)
MaxPool3d = _with_step_mode(nn.MaxPool3d)
AvgPool1d = _with_step_mode(nn.AvgPool1d)
AvgPool2d = _with_step_mode(nn.AvgPool2d)
AvgPool3d = _with_step_mode(nn.AvgPool3d)
AdaptiveAvgPool1d = _with_step_mode(nn.AdaptiveAvgPool1d)
AdaptiveAvgPool2d = _with_step_mode(nn.AdaptiveAvgPool2d)
AdaptiveAvgPool3d = _with_step_mode(nn.AdaptiveAvgPool3d)
AdaptiveMaxPool2d = _with_step_mode(nn.AdaptiveMaxPool2d)
Flatten = _with_step_mode(nn.Flatten)
Upsample = _with_step_mode(nn.Upsample)
Identity = _with_step_mode(nn.Identity)


class TimeFold(FoldTime):
    """Wrap any stateless module (or ``nn.Sequential``) so it runs in either step mode."""

    wraps_torch_layers = True

    def __init__(self, *modules: nn.Module, step_mode: str = "m") -> None:
        super().__init__()
        self.module = modules[0] if len(modules) == 1 else nn.Sequential(*modules)
        self.step_mode = step_mode

    def single_step_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x)

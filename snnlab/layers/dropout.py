"""Spiking dropout: one mask per simulation.

The mask is drawn at the first step after ``reset()`` and reused for every later step until the next reset, so
a sequence is processed by one fixed sub-network (dropping independently per step would average the effect
out over time).  Kept units are scaled by ``1/(1-p)``; in eval mode the layer is the identity.
"""

from __future__ import annotations

import torch

from snnlab.base import MemoryModule
from snnlab.validate import probability


class Dropout(MemoryModule):
    """Drop elements with probability ``p``; the mask is fixed from the first step until ``reset()``."""

    def __init__(self, p: float = 0.5, step_mode: str = "s") -> None:
        super().__init__()
        self.p = probability(p, "p", type(self).__name__)
        self.step_mode = step_mode
        self.register_memory("mask", None)

    def mask_shape(self, x: torch.Tensor) -> tuple[int, ...]:
        """Shape of the mask for one step ``x``."""
        return tuple(x.shape)

    def _mask_for(self, x: torch.Tensor) -> torch.Tensor:
        shape = self.mask_shape(x)
        if self.mask is None:
            keep = 1.0 - self.p
            self.mask = torch.bernoulli(torch.full(shape, keep, dtype=x.dtype, device=x.device)) / keep
        elif tuple(self.mask.shape) != shape:
            raise RuntimeError(
                f"{type(self).__name__} holds a mask of shape {tuple(self.mask.shape)} but the input step needs "
                f"{shape}; call reset() (or snnlab.functional.reset_net(model)) before feeding a batch of "
                "another shape"
            )
        return self.mask

    def single_step_forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        return x * self._mask_for(x)

    def multi_step_forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x_seq
        if x_seq.dim() < 2:
            raise ValueError(f"{type(self).__name__} in step mode 'm' expects [T, B, ...], got {tuple(x_seq.shape)}")
        return x_seq * self._mask_for(x_seq[0])

    def extra_repr(self) -> str:
        return f"p={self.p:g}, {super().extra_repr()}"


class Dropout2d(Dropout):
    """Drop whole channels of ``[B, C, ...]`` steps with probability ``p``; mask fixed until ``reset()``."""

    def __init__(self, p: float = 0.2, step_mode: str = "s") -> None:
        super().__init__(p, step_mode)

    def mask_shape(self, x: torch.Tensor) -> tuple[int, ...]:
        if x.dim() < 3:
            raise ValueError(f"Dropout2d expects steps shaped [B, C, H, W] (or [B, C, ...]), got {tuple(x.shape)}")
        return (*x.shape[:2], *([1] * (x.dim() - 2)))

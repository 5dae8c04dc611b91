"""NeuNorm: normalisation of a spiking layer's output by a running average of its activity.

Placed after a spiking neuron (``Conv2d -> LIF -> NeuNorm``).  Per spatial position it keeps

    X_t = k · X_{t-1} + ((1 - k) / C²) · Σ_c S_t[:, c]

and outputs ``S_t - w ⊙ X_t`` with a learnable ``w`` of shape ``[C, H, W]`` (``[1, H, W]`` when shared across
channels).  ``(1 - k) / C²`` is the paper's ``v/F`` with ``k + vF = 1`` and ``F = C``.
"""

from __future__ import annotations

import torch
from torch import nn

from snnlab.base import MemoryModule, check_rank
from snnlab.validate import boolean, real


class NeuNorm(MemoryModule):
    """NeuNorm over ``[B, C, H, W]`` steps (``[T, B, C, H, W]`` in mode ``m``); ``w`` starts at 0 (identity)."""

    def __init__(
        self,
        in_channels: int,
        height: int,
        width: int,
        k: float = 0.9,
        shared_across_channels: bool = False,
        step_mode: str = "s",
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.k = real(k, "k", "NeuNorm", low=0.0, high=1.0, high_open=True)
        shared = boolean(shared_across_channels, "shared_across_channels", "NeuNorm")
        self.w = nn.Parameter(torch.zeros(1 if shared else in_channels, height, width))
        self.step_mode = step_mode
        self.register_memory("x", 0.0)

    def single_step_forward(self, s: torch.Tensor) -> torch.Tensor:
        check_rank("NeuNorm", s, 4, "[B, C, H, W]")
        expected = (self.in_channels, *self.w.shape[1:])
        if tuple(s.shape[1:]) != expected:
            raise ValueError(f"NeuNorm expects [B, {', '.join(map(str, expected))}], got {tuple(s.shape)}")
        x = self.state_like("x", s[:, :1])
        self.x = self.k * x + (1.0 - self.k) / self.in_channels**2 * s.sum(dim=1, keepdim=True)
        return s - self.w * self.x

    def multi_step_forward(self, s_seq: torch.Tensor) -> torch.Tensor:
        check_rank("NeuNorm", s_seq, 5, "[T, B, C, H, W]")
        return super().multi_step_forward(s_seq)

    def extra_repr(self) -> str:
        c, h, w = self.w.shape
        return f"in_channels={self.in_channels}, k={self.k:g}, w=[{c}, {h}, {w}], {super().extra_repr()}"

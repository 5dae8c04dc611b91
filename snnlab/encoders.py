"""Encoders turn a static batch ``[B, ...]`` into a spike/current sequence ``[T, B, ...]``.

Poisson and latency coding read the input as intensities in ``[0, 1]`` (values outside are clipped).
"""

from __future__ import annotations

import torch
from torch import nn

from snnlab import registry


class Encoder(nn.Module):
    """Base class: ``T`` time steps out of one static input."""

    def __init__(self, T: int) -> None:
        super().__init__()
        if isinstance(T, bool) or not isinstance(T, int) or T < 1:
            raise ValueError(f"{type(self).__name__}: T must be a positive integer, got T={T!r}")
        self.T = int(T)

    def extra_repr(self) -> str:
        return f"T={self.T}"


@registry.register("encoder", "direct")
class DirectEncoder(Encoder):
    """Direct (analog) coding: the same input at every step; the first layer acts as the encoder."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(0).expand(self.T, *x.shape)


@registry.register("encoder", "poisson")
class PoissonEncoder(Encoder):
    """Rate coding: at each step a pixel spikes with probability equal to its intensity."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = x.clamp(0.0, 1.0).unsqueeze(0).expand(self.T, *x.shape)
        return (torch.rand_like(p) < p).to(x.dtype)


@registry.register("encoder", "latency")
class LatencyEncoder(Encoder):
    """Time-to-first-spike coding: one spike at step ``round((1 - x)(T - 1))``; zero intensity never fires."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.clamp(0.0, 1.0)
        t_spike = torch.round((1.0 - x) * (self.T - 1)).long()
        steps = torch.arange(self.T, device=x.device).view(-1, *([1] * x.dim()))
        return ((steps == t_spike.unsqueeze(0)) & (x > 0).unsqueeze(0)).to(x.dtype)

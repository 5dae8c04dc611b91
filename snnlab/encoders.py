"""Encoders turn a static batch ``[B, ...]`` into a spike/current sequence ``[T, B, ...]``.

Rate (Poisson) and latency coding read intensities in ``[0, 1]``.  Every data module reports how it normalises
its samples, ``(x - mean) / std``, in its ``mean`` and ``std`` (``None``: raw intensities in ``[0, 1]``); the run
hands them to the encoder, which undoes the normalisation first, so a normalised CIFAR pixel (or a standardised
digit) spikes at the rate of its raw intensity.  Direct coding passes the input as it is.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from snnlab import registry
from snnlab.validate import boolean, positive, positive_int

Stats = float | Sequence[float] | None


class Encoder(nn.Module):
    """Base class: ``T`` time steps out of one static input.

    Args:
        T: number of time steps.
        mean, std: per-channel normalisation of the input (``x = (raw - mean) / std``); both ``None`` when the
            input is already raw intensities.
    """

    def __init__(self, T: int, mean: Stats = None, std: Stats = None) -> None:
        super().__init__()
        self.T = positive_int(T, "T", type(self).__name__)
        if (mean is None) != (std is None):
            raise ValueError(f"{type(self).__name__}: give both mean and std, or neither")
        self.register_buffer("mean", None if mean is None else torch.tensor(mean, dtype=torch.float32), False)
        self.register_buffer("std", None if std is None else torch.tensor(std, dtype=torch.float32), False)

    def intensity(self, x: torch.Tensor) -> torch.Tensor:
        """The raw intensity of ``x`` (``[B, C, ...]``): ``x · std + mean`` per channel, clipped to ``[0, 1]``."""
        if self.mean is not None:
            shape = (-1, *([1] * (x.dim() - 2))) if self.mean.dim() else ()
            x = x * self.std.view(shape).to(x) + self.mean.view(shape).to(x)
        return x.clamp(0.0, 1.0)

    def extra_repr(self) -> str:
        return f"T={self.T}" + ("" if self.mean is None else ", unnormalises input")


@registry.register("encoder", "direct")
class DirectEncoder(Encoder):
    """Direct (analog) coding: the same input at every step; the first layer acts as the encoder."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(0).expand(self.T, *x.shape)


@registry.register("encoder", "poisson")
class PoissonEncoder(Encoder):
    """Rate coding: at each step a pixel spikes with probability ``intensity / rescale`` (at most 1).

    ``signed=True`` codes the input as given, without undoing any normalisation (the generator of the BNTT
    reference code): a spike of sign ``sign(x)`` with probability ``min(|x| / rescale, 1)``; the reference
    uses ``rescale=2``.
    """

    def __init__(
        self, T: int, signed: bool = False, rescale: float = 1.0, mean: Stats = None, std: Stats = None
    ) -> None:
        super().__init__(T, mean, std)
        self.signed = boolean(signed, "signed", "PoissonEncoder")
        self.rescale = positive(rescale, "rescale", "PoissonEncoder")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = x.abs() if self.signed else self.intensity(x)
        p = (p / self.rescale).clamp(max=1.0).unsqueeze(0).expand(self.T, *x.shape)
        spikes = (torch.rand_like(p) < p).to(x.dtype)
        return spikes * x.sign() if self.signed else spikes

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, signed={self.signed}, rescale={self.rescale:g}"


@registry.register("encoder", "latency")
class LatencyEncoder(Encoder):
    """Time-to-first-spike coding: one spike at step ``round((1 - x)(T - 1))``; zero intensity never fires."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.intensity(x)
        t_spike = torch.round((1.0 - x) * (self.T - 1)).long()
        steps = torch.arange(self.T, device=x.device).view(-1, *([1] * x.dim()))
        return ((steps == t_spike.unsqueeze(0)) & (x > 0).unsqueeze(0)).to(x.dtype)

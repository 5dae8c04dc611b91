"""Products of spike tensors as modules, so monitors and energy meters see them.

Each module has ``accumulates(*inputs)``: the accumulate operations (ACs) the product costs on the inputs it is
given, counted on the actual non-zero values, as a 0-dim float64 tensor on the inputs' device.  The convention
(see the README, "Energy"): a matrix product costs one AC per pair of non-zero factors that meet; a sum costs one
AC per non-zero term; an element-wise product of spikes is a mask (a logical AND) and costs none.
"""

from __future__ import annotations

import torch
from torch import nn


def _nonzero(x: torch.Tensor) -> torch.Tensor:
    return (x.detach() != 0).to(torch.float64)


class SpikeMatMul(nn.Module):
    """``(a @ b) · scale`` over the last two dimensions (batched over the leading ones)."""

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = float(scale)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        out = torch.matmul(a, b)
        return out * self.scale if self.scale != 1.0 else out

    def accumulates(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Pairs ``a[.., i, k] ≠ 0``, ``b[.., k, j] ≠ 0``: for every ``k``, non-zeros of column k times of row k."""
        return (_nonzero(a).sum(-2) * _nonzero(b).sum(-1)).sum()

    def extra_repr(self) -> str:
        return f"scale={self.scale}"


class SpikeMask(nn.Module):
    """``a ⊙ b`` (broadcasting): one spike tensor masks the other."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a * b

    def accumulates(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """None: a logical AND of spikes."""
        return torch.zeros((), dtype=torch.float64, device=a.device)


class SpikeSum(nn.Module):
    """The sum over dimension ``dim`` (kept, size 1)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.sum(self.dim, keepdim=True)

    def accumulates(self, x: torch.Tensor) -> torch.Tensor:
        """One per non-zero term."""
        return _nonzero(x).sum()

    def extra_repr(self) -> str:
        return f"dim={self.dim}"

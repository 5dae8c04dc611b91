"""Batch normalisation through time (BNTT): ``T`` independent BNs, one per time step.

A step counter ``t`` (a memory, cleared by ``reset()``) selects the BN; both step modes are supported and a
step past ``T`` is an error.
"""

from __future__ import annotations

import torch
from torch import nn

from snnlab.base import MemoryModule
from snnlab.layers.batch_norm import NormWrapper, by_dims


class _BatchNormThroughTimeNd(MemoryModule, NormWrapper):
    def __init__(
        self,
        T: int,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        step_mode: str = "s",
    ) -> None:
        super().__init__()
        if int(T) < 1:
            raise ValueError(f"{type(self).__name__}: T must be >= 1, got {T}")
        self.T = int(T)
        self.bns = nn.ModuleList(
            self.make_bn(num_features, eps, momentum, affine, track_running_stats) for _ in range(self.T)
        )
        self.step_mode = step_mode
        self.register_memory("t", 0)

    def single_step_forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x, multi_step=False)
        if self.t >= self.T:
            raise RuntimeError(
                f"{type(self).__name__} has one BN per step for T={self.T} steps and all were used; call "
                "reset() (or snnlab.functional.reset_net(model)) before the next sequence"
            )
        y = self.bns[self.t](x)
        self.t += 1
        return y

    def multi_step_forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        self.check_input(x_seq, multi_step=True)
        self.check_steps(x_seq)
        return torch.stack([self.single_step_forward(x) for x in x_seq])

    def extra_repr(self) -> str:
        return f"T={self.T}, {super().extra_repr()}"


BatchNormThroughTime1d, BatchNormThroughTime2d, BatchNormThroughTime3d = by_dims(
    _BatchNormThroughTimeNd, "BatchNormThroughTime", "BNTT"
)

"""Random temporal crop of time-first training batches (SEW ResNet's ``T_train``)."""

from __future__ import annotations

import torch

from snnlab import validate
from snnlab.data.base import time_first_collate
from snnlab.validate import InvalidArgument


class TemporalCrop:
    """Collate ``[T, ...]`` samples into ``[T, B, ...]`` and keep ``frames`` of the ``T`` steps, drawn at random
    without replacement and kept in time order; every sample of a batch keeps the same steps.

    Used for training only: the network then sees ``frames`` steps in training and all ``T`` in evaluation.
    """

    def __init__(self, frames: int, T: int) -> None:
        if not validate.is_integer(frames) or not 1 <= frames <= T:
            raise InvalidArgument(
                "T_train", frames, f"must be an integer in [1, T={T}] (frames kept per training batch)"
            )
        self.frames = frames
        self.T = T

    def __repr__(self) -> str:
        return f"TemporalCrop(frames={self.frames}, T={self.T})"

    def __call__(self, batch: list[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = time_first_collate(batch)
        if x.shape[0] != self.T:
            raise ValueError(f"TemporalCrop expects {self.T} steps per sample, got shape {tuple(x.shape)}")
        keep = torch.randperm(self.T)[: self.frames].sort().values
        return x[keep], y

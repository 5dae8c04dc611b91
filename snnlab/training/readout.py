"""Readouts: the network's output sequence ``[T, B, K]`` → class scores ``[B, num_classes]``."""

from __future__ import annotations

import torch

READOUTS = ("mean", "voting")


def readout(out_seq: torch.Tensor, num_classes: int, mode: str = "mean") -> torch.Tensor:
    """Average over time; ``voting`` also averages each class's group of ``K / num_classes`` output neurons."""
    if mode not in READOUTS:
        raise ValueError(f"unknown readout {mode!r}; valid: {READOUTS}")
    scores = out_seq.mean(0)
    if mode == "voting":
        scores = scores.unflatten(-1, (num_classes, -1)).mean(-1)
    return scores

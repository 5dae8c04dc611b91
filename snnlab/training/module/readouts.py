"""Readouts (``readout`` components): the network's output sequence ``[T, B, K]`` → class scores ``[B, classes]``."""

from __future__ import annotations

import torch

from snnlab import registry


@registry.register("readout", "mean")
def mean_readout(out_seq: torch.Tensor, num_classes: int) -> torch.Tensor:
    """The output averaged over time (``K`` must equal ``num_classes``)."""
    return out_seq.mean(0)


@registry.register("readout", "voting")
def voting_readout(out_seq: torch.Tensor, num_classes: int) -> torch.Tensor:
    """The time average of each class's group of ``K / num_classes`` output neurons, averaged over the group."""
    return out_seq.mean(0).unflatten(-1, (num_classes, -1)).mean(-1)

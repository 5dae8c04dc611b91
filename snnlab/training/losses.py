"""Losses (``loss`` components) on class scores ``[B, classes]`` and integer targets ``[B]``."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from snnlab import registry


@registry.register("loss", "ce")
def cross_entropy(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy on the scores as logits."""
    return F.cross_entropy(scores, targets)


@registry.register("loss", "mse")
def mse_to_one_hot(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean squared error between the scores (as firing rates) and one-hot targets."""
    return F.mse_loss(scores, F.one_hot(targets, scores.shape[-1]).to(scores.dtype))

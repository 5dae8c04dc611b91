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


@registry.register("loss", "tet")
def tet_loss(step_scores: torch.Tensor, targets: torch.Tensor, lamb: float = 1e-3, phi: float = 1.0) -> torch.Tensor:
    """TET (Deng et al., ICLR 2022): ``(1 - λ)·mean_t CE(O_t, y) + λ·MSE(O, φ)`` on per-step scores ``[T, B, C]``.

    Defaults ``λ = 1e-3``, ``φ = 1`` are those of the official code (``--lamb``, ``--means``).
    """
    if step_scores.dim() != 3:
        raise ValueError(f"the tet loss needs per-step scores [T, B, C], got shape {tuple(step_scores.shape)}")
    ce = F.cross_entropy(step_scores.flatten(0, 1), targets.repeat(step_scores.shape[0]))
    return (1.0 - lamb) * ce + lamb * F.mse_loss(step_scores, torch.full_like(step_scores, phi))


tet_loss.per_step = True  # type: ignore[attr-defined]  # the module passes the scores of each step

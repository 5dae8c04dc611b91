"""Losses (``loss`` components): the network's output sequence ``[T, B, K]`` and targets → a loss.

Targets are integer labels ``[B]`` or soft targets ``[B, classes]`` (class probabilities, as Mixup/CutMix and
label smoothing give them, :mod:`snnlab.training.module.mixup`); every loss takes both.

A loss is an object built with its own arguments (config: ``classifier.loss: {_target_: tet, lamb: 0.001}``) and
called with the output sequence, the targets and the readout, which gives the class scores.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from snnlab import registry
from snnlab.training.module.readouts import Readout
from snnlab.validate import real


class Loss:
    """Base class: subclasses set ``name`` (their registry name) and implement :meth:`on_scores` (a loss of the
    read-out class scores ``[B, classes]``) or override ``__call__``."""

    name: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        registry.register("loss", cls.name, cls)

    def __call__(self, out_seq: torch.Tensor, targets: torch.Tensor, readout: Readout) -> torch.Tensor:
        """The loss of the output sequence ``out_seq`` ``[T, B, K]``."""
        return self.on_scores(readout(out_seq), targets)

    def on_scores(self, scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The loss of class scores ``[B, classes]``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def class_targets(targets: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """``targets`` for ``F.cross_entropy`` against ``scores``: integer labels as they are, soft targets in the
    scores' dtype (their cross-entropy is ``mean_b Σ_k -t_bk·log softmax(s_b)_k``, timm's
    ``SoftTargetCrossEntropy``)."""
    return targets.to(scores.dtype) if targets.is_floating_point() else targets


def distributions(targets: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """``targets`` as class probabilities ``[B, classes]`` in the scores' dtype: labels one-hot, soft as they are."""
    probabilities = targets if targets.is_floating_point() else F.one_hot(targets, scores.shape[-1])
    return probabilities.to(scores.dtype)


class CrossEntropy(Loss):
    """Cross-entropy on the scores as logits (soft-target cross-entropy for soft targets)."""

    name = "ce"

    def on_scores(self, scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(scores, class_targets(targets, scores))


class MSE(Loss):
    """Mean squared error between the scores (as firing rates) and one-hot (or soft) targets."""

    name = "mse"

    def on_scores(self, scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(scores, distributions(targets, scores))


class TET(Loss):
    """TET (Deng et al., ICLR 2022): ``(1 - λ)·mean_t CE(O_t, y) + λ·MSE(O, φ)`` on the scores of each step
    ``O_t`` ``[T, B, classes]`` (soft targets: each step's CE against the same ``y``).  Defaults ``λ = 1e-3``,
    ``φ = 1`` are those of the official code (``--lamb``, ``--means``)."""

    name = "tet"

    def __init__(self, lamb: float = 1e-3, phi: float = 1.0) -> None:
        self.lamb = real(lamb, "lamb", self.name, low=0.0, high=1.0)
        self.phi = real(phi, "phi", self.name)

    def __call__(self, out_seq: torch.Tensor, targets: torch.Tensor, readout: Readout) -> torch.Tensor:
        step_scores = readout.step_scores(out_seq)
        per_step = class_targets(targets, step_scores).expand(len(step_scores), *targets.shape)
        ce = F.cross_entropy(step_scores.flatten(0, 1), per_step.flatten(0, 1))
        return (1.0 - self.lamb) * ce + self.lamb * F.mse_loss(step_scores, torch.full_like(step_scores, self.phi))

    def __repr__(self) -> str:
        return f"TET(lamb={self.lamb:g}, phi={self.phi:g})"

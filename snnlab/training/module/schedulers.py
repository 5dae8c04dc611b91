"""Learning-rate schedule factories: ``scheduler(optimizer) -> LRScheduler``, built from a config node."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch.optim import Optimizer
from torch.optim.lr_scheduler import MultiStepLR


@dataclass(frozen=True)
class MultiStepFractions:
    """``MultiStepLR`` with milestones given as fractions of the run's ``max_epochs``.

    ``MultiStepFractions([0.5, 0.7, 0.9], max_epochs=100)`` multiplies the rate by ``gamma`` after epochs 50, 70
    and 90 (BNTT's schedule).
    """

    milestones: Sequence[float]
    max_epochs: int
    gamma: float = 0.1

    def __post_init__(self) -> None:
        fractions = list(self.milestones)
        if not fractions or fractions != sorted(fractions) or not all(0.0 < f <= 1.0 for f in fractions):
            raise ValueError(f"milestones must be increasing fractions in (0, 1], got {fractions}")
        if isinstance(self.max_epochs, bool) or not isinstance(self.max_epochs, int) or self.max_epochs < 1:
            raise ValueError(f"max_epochs must be a positive integer, got {self.max_epochs!r}")

    @property
    def epochs(self) -> list[int]:
        """The milestones in epochs."""
        return [round(f * self.max_epochs) for f in self.milestones]

    def __call__(self, optimizer: Optimizer) -> MultiStepLR:
        return MultiStepLR(optimizer, self.epochs, self.gamma)

"""Learning-rate schedule factories: ``scheduler(optimizer) -> LRScheduler``, built from a config node."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch.optim import Optimizer
from torch.optim.lr_scheduler import MultiStepLR

from snnlab import validate
from snnlab.validate import InvalidArgument


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
            raise InvalidArgument("milestones", fractions, "must be increasing fractions in (0, 1]", "multistep")
        validate.positive_int(self.max_epochs, "max_epochs", "multistep")
        validate.positive(self.gamma, "gamma", "multistep")

    @property
    def epochs(self) -> list[int]:
        """The milestones in epochs."""
        return [round(f * self.max_epochs) for f in self.milestones]

    def __call__(self, optimizer: Optimizer) -> MultiStepLR:
        return MultiStepLR(optimizer, self.epochs, self.gamma)

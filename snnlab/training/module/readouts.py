"""Readouts (``readout`` components): the network's output sequence ``[T, B, K]`` → class scores ``[B, classes]``.

Config spelling: ``classifier.readout: {_target_: mean}`` or ``{_target_: voting, votes: 10}``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from snnlab import registry
from snnlab.validate import positive_int


class Readout:
    """Base class: subclasses set ``name`` (their registry name) and implement :meth:`step_scores`."""

    name: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        registry.register("readout", cls.name, cls)

    def output_units(self, num_classes: int) -> int:
        """Output neurons ``K`` the network needs for ``num_classes`` classes."""
        return num_classes

    def step_scores(self, out_seq: torch.Tensor) -> torch.Tensor:
        """The class scores of each step, ``[T, B, K]`` → ``[T, B, classes]``."""
        raise NotImplementedError

    def __call__(self, out_seq: torch.Tensor) -> torch.Tensor:
        """Class scores ``[B, classes]``: the per-step scores averaged over time."""
        return self.step_scores(out_seq).mean(0)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Mean(Readout):
    """The output averaged over time (``K`` = number of classes)."""

    name = "mean"

    def step_scores(self, out_seq: torch.Tensor) -> torch.Tensor:
        return out_seq


class Voting(Readout):
    """``votes`` output neurons per class (``K = classes × votes``); a class's score is its group's average."""

    name = "voting"

    def __init__(self, votes: int = 10) -> None:
        self.votes = positive_int(votes, "votes", self.name)

    def output_units(self, num_classes: int) -> int:
        return num_classes * self.votes

    def step_scores(self, out_seq: torch.Tensor) -> torch.Tensor:
        return out_seq.unflatten(-1, (-1, self.votes)).mean(-1)

    def __repr__(self) -> str:
        return f"Voting(votes={self.votes})"

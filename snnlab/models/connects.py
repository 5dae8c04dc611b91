"""SEW element-wise functions (the ``connect`` components): ``connect: {_target_: ADD}``.

A connect object is ``g(A, S)`` of a SEW block's residual spikes ``A`` and its shortcut ``S`` (Fang et al.,
NeurIPS 2021); the names are the paper's.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from snnlab import registry


@dataclass(frozen=True)
class Connect:
    """The base of the SEW functions: ``g(a, s)``."""

    def __call__(self, a: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


@registry.register("connect", "ADD")
@dataclass(frozen=True)
class Add(Connect):
    """``A + S``."""

    def __call__(self, a: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return a + s


@registry.register("connect", "AND")
@dataclass(frozen=True)
class And(Connect):
    """``A · S``."""

    def __call__(self, a: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return a * s


@registry.register("connect", "IAND")
@dataclass(frozen=True)
class IAnd(Connect):
    """``(1 − A) · S``."""

    def __call__(self, a: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return s * (1.0 - a)

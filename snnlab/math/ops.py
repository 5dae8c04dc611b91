"""The handful of math primitives the neuron and surrogate formulas are written in.

Formulas in :mod:`snnlab.math.surrogate` and the neuron declarations (:mod:`snnlab.math.dynamics`) use plain
arithmetic plus the functions of an ``ops`` namespace.  :data:`TORCH_OPS` evaluates them on tensors;
:mod:`snnlab.math.symbolic` builds expression trees from them, which the code generators render into CUDA and
Numba source, so every backend runs one definition.
"""

from __future__ import annotations

import torch


class TorchOps:
    """``ops`` namespace evaluating formulas on tensors."""

    exp = staticmethod(torch.exp)
    abs = staticmethod(torch.abs)
    relu = staticmethod(torch.relu)
    sigmoid = staticmethod(torch.sigmoid)

    @staticmethod
    def heaviside(x: torch.Tensor) -> torch.Tensor:
        """1 where ``x >= 0`` else 0, in ``x``'s dtype."""
        return (x >= 0).to(x.dtype)

    @staticmethod
    def select(flag: torch.Tensor | bool, if_true: torch.Tensor, if_false: torch.Tensor) -> torch.Tensor:
        """``if_true`` where ``flag`` else ``if_false``."""
        return torch.where(torch.as_tensor(flag), if_true, if_false)


TORCH_OPS = TorchOps()

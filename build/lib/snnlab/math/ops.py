"""The handful of math primitives the neuron and surrogate formulas are written in.

Formulas in :mod:`snnlab.math.surrogate` and :mod:`snnlab.math.dynamics` use plain arithmetic plus the
functions of an ``ops`` namespace.  :data:`TORCH_OPS` evaluates them on tensors; the CUDA code generator
passes its own namespace with the same names to turn the very same formulas into kernel source, so every
backend runs one definition.
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


TORCH_OPS = TorchOps()

"""DropConnect: a linear layer whose *connections* are dropped with probability ``p``.

Training: every sample of the batch gets its own mask over the weights (and bias); with ``invariant=True``
the masks are kept from the first step until ``reset()``, otherwise they are redrawn at every step.
Inference: each pre-activation ``u = (M ⊙ W) x + m ⊙ b`` is approximated by a Gaussian with matched moments,
mean ``(1-p)(Wx + b)`` and variance ``p(1-p)(W²x² + b²)``; ``samples_num`` draws go through ``activation`` and
are averaged.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from snnlab.base import MemoryModule
from snnlab.validate import boolean, positive_int, probability


class DropConnectLinear(MemoryModule):
    """Linear layer + ``activation`` with DropConnect.  ``activation`` may be a module, a module class or
    ``None``; the default ``nn.ReLU`` is instantiated per layer.  Steps are ``[B, in_features]``."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        p: float = 0.5,
        samples_num: int = 1024,
        invariant: bool = False,
        activation: nn.Module | type[nn.Module] | None = nn.ReLU,
        step_mode: str = "s",
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.p = probability(p, "p", "DropConnectLinear")
        self.samples_num = positive_int(samples_num, "samples_num", "DropConnectLinear")
        self.invariant = boolean(invariant, "invariant", "DropConnectLinear")
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.bias = nn.Parameter(torch.empty(out_features)) if bias else None
        self.activation = activation() if isinstance(activation, type) else activation
        self.step_mode = step_mode
        self.register_memory("weight_mask", None)
        self.register_memory("bias_mask", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise weight and bias as ``torch.nn.Linear`` does."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1.0 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
            nn.init.uniform_(self.bias, -bound, bound)

    def reset(self) -> None:
        """Restore full connectivity (masks are redrawn at the next step) and reset a stateful activation."""
        super().reset()
        if isinstance(self.activation, MemoryModule):
            self.activation.reset()

    def drop(self, batch_size: int) -> None:
        """Draw one weight (and bias) mask per sample."""
        keep = 1.0 - self.p
        w = self.weight
        self.weight_mask = torch.bernoulli(w.new_full((batch_size, *w.shape), keep).detach())
        if self.bias is not None:
            self.bias_mask = torch.bernoulli(self.bias.new_full((batch_size, self.out_features), keep).detach())

    def _activate(self, u: torch.Tensor) -> torch.Tensor:
        return u if self.activation is None else self.activation(u)

    def single_step_forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"DropConnectLinear expects [B, {self.in_features}], got {tuple(x.shape)}")
        if not self.training:
            return self._inference(x)
        if not self.invariant or self.weight_mask is None:
            self.drop(x.shape[0])
        elif self.weight_mask.shape[0] != x.shape[0]:
            raise RuntimeError(
                f"DropConnectLinear holds masks for a batch of {self.weight_mask.shape[0]} but got "
                f"{x.shape[0]} samples; call reset() (or snnlab.functional.reset_net(model)) first"
            )
        u = torch.einsum("bi,boi->bo", x, self.weight * self.weight_mask)
        if self.bias is not None:
            u = u + self.bias * self.bias_mask
        return self._activate(u)

    def _inference(self, x: torch.Tensor) -> torch.Tensor:
        keep = 1.0 - self.p
        mean = keep * F.linear(x, self.weight, self.bias)
        bias_sq = None if self.bias is None else self.bias.square()
        std = (self.p * keep * F.linear(x.square(), self.weight.square(), bias_sq)).sqrt()
        noise = torch.randn(self.samples_num, *mean.shape, dtype=mean.dtype, device=mean.device)
        return self._activate(mean + std * noise).mean(dim=0)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, "
            f"p={self.p:g}, samples_num={self.samples_num}, invariant={self.invariant}, {super().extra_repr()}"
        )

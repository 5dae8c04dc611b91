"""Neuron dynamics written once: charge, fire, reset and their derivatives.

``NeuronDynamics`` is the single source of truth for every backend.  All formulas use plain arithmetic and an
``ops`` namespace (:mod:`snnlab.math.ops`), so the torch loop evaluates them on tensors while the CUDA code
generator renders the same methods into kernel source.

One step, with ``vr = v_reset`` (``0`` under soft reset) and ``θ`` the neuron's scalar parameter
(``1/τ`` for LIF/PLIF, the self-connection ``w`` for RIF)::

    charge  IF   h = v + x
            LIF  h = v + (x - (v - vr))·θ        (decay_input=True)
                 h = v - (v - vr)·θ + x          (decay_input=False)
            RIF  h = v + θ·(v - vr) + x
    fire    s = Θ(h - v_th)                      (surrogate derivative in backward)
    reset   hard  v' = s'·vr + (1 - s')·h        soft  v' = h - s'·v_th
            s' = s.detach() if detach_reset else s
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from snnlab.math.ops import TORCH_OPS
from snnlab.math.surrogate import Sigmoid, Surrogate

KINDS = ("if", "lif", "rif")


@dataclass(frozen=True)
class NeuronDynamics:
    """Hashable description of one neuron variant (also the kernel-cache key)."""

    kind: str
    v_threshold: float = 1.0
    v_reset: float | None = 0.0
    detach_reset: bool = False
    decay_input: bool = True
    surrogate: Surrogate = field(default_factory=Sigmoid)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown neuron dynamics {self.kind!r}; valid: {KINDS}")

    @property
    def vr(self) -> float:
        """Reset potential used inside the charge equation (0 under soft reset)."""
        return 0.0 if self.v_reset is None else float(self.v_reset)

    @property
    def has_theta(self) -> bool:
        return self.kind != "if"

    # -- forward ---------------------------------------------------------------------------------------
    def charge(self, v: Any, x: Any, theta: Any = None) -> Any:
        """Membrane potential after charging, ``h[t] = f(v[t-1], x[t])``."""
        if self.kind == "if":
            return v + x
        if self.kind == "lif":
            if self.decay_input:
                return v + (x - (v - self.vr)) * theta
            return v - (v - self.vr) * theta + x
        return v + (v - self.vr) * theta + x

    def reset(self, h: Any, s: Any) -> Any:
        """Membrane potential after firing ``s`` (already detached if ``detach_reset``)."""
        if self.v_reset is None:
            return h - s * self.v_threshold
        return s * self.vr + (1.0 - s) * h

    def step(
        self, x: torch.Tensor, v: torch.Tensor, theta: torch.Tensor | float | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One torch step: returns ``(spike, v_next, h)``; differentiable through the surrogate."""
        h = self.charge(v, x, theta)
        s = self.surrogate(h - self.v_threshold)
        v_next = self.reset(h, s.detach() if self.detach_reset else s)
        return s, v_next, h

    # -- derivatives (for hand-written backward passes, e.g. fused kernels) -----------------------------
    def charge_grads(self, v: Any, x: Any, theta: Any = None) -> tuple[Any, Any, Any]:
        """``(∂h/∂v, ∂h/∂x, ∂h/∂θ)``; ``∂h/∂θ`` is ``None`` for IF."""
        if self.kind == "if":
            return 1.0, 1.0, None
        if self.kind == "lif":
            if self.decay_input:
                return 1.0 - theta, theta, x - (v - self.vr)
            return 1.0 - theta, 1.0, (v - self.vr) * -1.0
        return theta + 1.0, 1.0, v - self.vr

    def reset_grads(self, h: Any, s: Any) -> tuple[Any, Any]:
        """``(∂v'/∂h at fixed s, ∂v'/∂s)``."""
        if self.v_reset is None:
            return 1.0, -self.v_threshold
        return 1.0 - s, self.vr - h

    def backward_step(
        self,
        grad_s: Any,
        grad_v: Any,
        h: Any,
        v_prev: Any,
        x: Any,
        theta: Any = None,
        ops: Any = TORCH_OPS,
    ) -> tuple[Any, Any, Any]:
        """Backpropagate one step.

        ``grad_s = ∂L/∂s[t]``, ``grad_v = ∂L/∂v[t]`` (the reset potential, from step ``t+1`` and any
        ``v_seq`` output).  Returns ``(∂L/∂x[t], ∂L/∂v[t-1], ∂L/∂θ contribution or None)``.
        """
        s = ops.heaviside(h - self.v_threshold)
        sg = self.surrogate.grad(h - self.v_threshold, ops)
        dv_dh, dv_ds = self.reset_grads(h, s)
        grad_h = grad_v * dv_dh + (grad_s if self.detach_reset else grad_s + grad_v * dv_ds) * sg
        dh_dv, dh_dx, dh_dtheta = self.charge_grads(v_prev, x, theta)
        grad_theta = None if dh_dtheta is None else grad_h * dh_dtheta
        return grad_h * dh_dx, grad_h * dh_dv, grad_theta

"""The ``torch`` backend: a per-step loop over :meth:`NeuronDynamics.step` (autograd does the backward)."""

from __future__ import annotations

import torch

from snnlab.math.dynamics import NeuronDynamics


def multi_step(
    dyn: NeuronDynamics,
    x_seq: torch.Tensor,
    v: torch.Tensor,
    theta: torch.Tensor | float | None,
    store_v_seq: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Run ``T`` steps; returns ``(s_seq, v_last, v_seq or None)``."""
    spikes, vs = [], []
    for x in x_seq:
        s, v, _ = dyn.step(x, v, theta)
        spikes.append(s)
        if store_v_seq:
            vs.append(v)
    return torch.stack(spikes), v, torch.stack(vs) if store_v_seq else None


def needs_grad(*tensors: object) -> bool:
    """Whether autograd wants gradients of any of ``tensors``: grad mode is on and one of them requires grad.

    (Inside an ``autograd.Function``, ``ctx.needs_input_grad`` is true under ``torch.no_grad()`` too.)
    """
    return torch.is_grad_enabled() and any(isinstance(t, torch.Tensor) and t.requires_grad for t in tensors)

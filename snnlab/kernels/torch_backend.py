"""The ``torch`` backend: a per-step loop over :meth:`NeuronDynamics.step` (autograd does the backward)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from snnlab.math.dynamics import MEMBRANE, NeuronDynamics


def multi_step(
    dyn: NeuronDynamics,
    x_seq: torch.Tensor,
    states: Sequence[torch.Tensor | float],
    params: Sequence[Any],
    store_v_seq: bool,
) -> tuple[torch.Tensor, tuple[torch.Tensor, ...], torch.Tensor | None]:
    """Run ``T`` steps from ``states`` (in ``dyn.states`` order; floats or tensors broadcastable to one step) with
    ``params`` (in ``dyn.params`` order: floats, 0-dim tensors or ``[C]`` per channel); returns
    ``(s_seq, last states, v_seq or None)``."""
    membrane = dyn.state_names.index(MEMBRANE)
    states = tuple(torch.as_tensor(s, dtype=x_seq.dtype, device=x_seq.device).expand(x_seq.shape[1:]) for s in states)
    params = dyn.param_views(params, x_seq.shape[1:])
    spikes, vs = [], []
    for x in x_seq:
        s, states = dyn.step(x, states, params)
        spikes.append(s)
        if store_v_seq:
            vs.append(states[membrane])
    return torch.stack(spikes), states, torch.stack(vs) if store_v_seq else None


def needs_grad(*tensors: object) -> bool:
    """Whether autograd wants gradients of any of ``tensors``: grad mode is on and one of them requires grad.

    (Inside an ``autograd.Function``, ``ctx.needs_input_grad`` is true under ``torch.no_grad()`` too.)
    """
    return torch.is_grad_enabled() and any(isinstance(t, torch.Tensor) and t.requires_grad for t in tensors)

"""The flat layout of the fused backends' inputs and outputs.

The fused kernels see time-major ``[T, N]`` tensors, ``N`` the elements of one step.  Each state becomes an
``[N]`` tensor.  A scalar parameter is a fixed float or a (0-dim, fp32) tensor, whose gradient the kernel
writes per neuron element and :meth:`FusedArgs.param_grads` sums; a per-channel parameter ``[C]`` is broadcast
(by torch, differentiably) to an ``[N]`` fp32 tensor, one value per neuron element, so the kernel reads and
differentiates it like an element of the input and autograd sums its ``[N]`` gradient back to the channels.
Kernel arguments are named per state ``k`` and parameter ``q`` (``init_k``, ``val_q``, ``ptr_q``, ...) alike in
both backends.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from snnlab.kernels.op_keys import declaration, declaration_key
from snnlab.math.dynamics import NeuronDynamics

Tensors = list[torch.Tensor | None]


@dataclass(frozen=True)
class FusedArgs:
    """What a fused backend carries besides tensors: the declaration, the input's shape and dtype and each
    parameter's fixed value (``None`` where it is a tensor)."""

    dyn: NeuronDynamics
    shape: torch.Size
    dtype: torch.dtype
    fixed: tuple[float | None, ...]

    @classmethod
    def prepare(
        cls, dyn: NeuronDynamics, x_seq: torch.Tensor, states: Sequence[Any], params: Sequence[Any], dtype: torch.dtype
    ) -> tuple[FusedArgs, torch.Tensor, list[torch.Tensor], Tensors]:
        """``(args, x [T, N], states [N] each, parameter tensors)``, the tensors contiguous, in ``dtype`` (fp32
        for the parameters)."""
        step = x_seq.shape[1:]
        x = x_seq.reshape(x_seq.shape[0], -1).to(dtype).contiguous()
        flat = [
            s.to(x.device, dtype).expand(step).reshape(-1).contiguous()
            if isinstance(s, torch.Tensor)
            else torch.full((x.shape[1],), float(s), dtype=dtype, device=x.device)
            for s in states
        ]
        tensors: Tensors = []
        for q, value in zip(dyn.params, dyn.param_views(params, step)):
            if not isinstance(value, torch.Tensor):
                tensors.append(None)
                continue
            value = value.to(x.device, torch.float32)
            tensors.append(torch.broadcast_to(value, step).reshape(-1).contiguous() if q.per_channel else value)
        fixed = tuple(None if t is not None else float(v) for t, v in zip(tensors, params))
        return cls(dyn, x_seq.shape, x_seq.dtype, fixed), x, flat, tensors

    @classmethod
    def of_op(
        cls, key: str, x: torch.Tensor, tensors: Sequence[torch.Tensor], fixed: Sequence[float], is_tensor: list[bool]
    ) -> tuple[FusedArgs, Tensors]:
        """``(args, parameter tensors with None where fixed)`` inside a custom operator, from what
        :meth:`op_args` gave it and its ``[T, N]`` input."""
        given, values = iter(tensors), iter(fixed)
        full = [next(given) if b else None for b in is_tensor]
        fixed_values = tuple(None if b else next(values) for b in is_tensor)
        return cls(declaration(key), x.shape, x.dtype, fixed_values), full

    def op_args(self, tensors: Tensors) -> tuple[str, list[torch.Tensor], list[float], list[bool]]:
        """What a custom operator takes instead of ``self`` and ``tensors`` (plain values and tensors only): the
        declaration's key (:mod:`snnlab.kernels.op_keys`), the parameter tensors, the fixed values and which
        parameters are tensors."""
        given = [t for t in tensors if t is not None]
        return (
            declaration_key(self.dyn),
            given,
            [f for f in self.fixed if f is not None],
            [f is None for f in self.fixed],
        )

    def split(self, tensors: Sequence[Any]) -> tuple[list[Any], list[Any]]:
        """``(states, parameter tensors)`` of the tensors an autograd function got or saved, in that order."""
        n = len(self.dyn.states)
        return list(tensors[:n]), list(tensors[n:])

    def values(self, states: Sequence[torch.Tensor], tensors: Tensors, host: bool) -> dict[str, Any]:
        """Kernel arguments by name: sizes, initial states and parameters (a scalar tensor's value as ``val_q``
        read on the ``host``, else by its pointer ``ptr_q``)."""
        values: dict[str, Any] = {"T": self.shape[0], "N": states[0].numel()}
        values |= {f"init_{k}": s for k, s in zip(self.dyn.state_names, states)}
        for q, t, fixed in zip(self.dyn.params, tensors, self.fixed):
            if fixed is not None:
                values[f"val_{q.name}"] = fixed
            elif host and not q.per_channel:
                values[f"val_{q.name}"] = t.item()
            else:
                values[f"ptr_{q.name}"] = t
        return values

    def output_values(
        self, s_seq: torch.Tensor, v_seq: torch.Tensor | None, last: Sequence[torch.Tensor]
    ) -> dict[str, Any]:
        """The forward kernel's output arguments by name."""
        return {"s_seq": s_seq, "v_seq": v_seq, **{f"last_{k}": t for k, t in zip(self.dyn.state_names, last)}}

    def grad_values(
        self,
        grad_s: torch.Tensor | None,
        grad_v_seq: torch.Tensor | None,
        grad_last: Sequence[torch.Tensor | None],
        grad_init: Sequence[torch.Tensor],
        grad_params: Tensors,
    ) -> dict[str, Any]:
        """The backward kernel's gradient arguments by name (incoming ones made contiguous; ``None``: zero)."""
        values: dict[str, Any] = {"grad_s_seq": _contiguous(grad_s), "grad_v_seq": _contiguous(grad_v_seq)}
        for k, g_last, g_init in zip(self.dyn.state_names, grad_last, grad_init):
            values |= {f"grad_last_{k}": _contiguous(g_last), f"grad_init_{k}": g_init}
        return values | {f"grad_{q.name}": g for q, g in zip(self.dyn.params, grad_params)}

    def param_grads(self, grads: Tensors, tensors: Tensors, total: Callable[[torch.Tensor], torch.Tensor]) -> Tensors:
        """Gradients of the parameter tensors from the kernel's ``[N]`` ones (``None``: not computed): a scalar's
        is their ``total``, a per-channel one's is returned per element (autograd sums it to the channels)."""
        return [
            g if g is None or q.per_channel else total(g).to(t.dtype).reshape(t.shape)
            for q, g, t in zip(self.dyn.params, grads, tensors)
        ]

    def outputs(
        self, s_seq: torch.Tensor, v_seq: torch.Tensor | None, last: Sequence[torch.Tensor]
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...], torch.Tensor | None]:
        """``(s_seq, last states, v_seq or None)`` in the input's shape and dtype."""
        shape, dtype = self.shape, self.dtype
        states = tuple(s.to(dtype).view(shape[1:]) for s in last)
        return s_seq.to(dtype).view(shape), states, None if v_seq is None else v_seq.to(dtype).view(shape)


def no_grad(values: list[Any]) -> list[Any] | None:
    """A custom operator's "no gradient" for its input list of plain ``values`` (to the input tree, an empty
    list is one of tensors)."""
    return None if values else []


def _contiguous(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else t.contiguous()


def output_grads(
    grads: Sequence[torch.Tensor | None], n_states: int, store_v_seq: bool
) -> tuple[torch.Tensor | None, list[torch.Tensor | None], torch.Tensor | None]:
    """``(grad s_seq, grads of the last states, grad v_seq)`` from the gradients of a fused op's output list."""
    return grads[0], list(grads[1 : n_states + 1]), grads[n_states + 1] if store_v_seq else None


def wanted_grads(wanted: Sequence[bool], computed: Sequence[torch.Tensor]) -> list[torch.Tensor | None]:
    """One gradient per parameter tensor: the next computed one where it is ``wanted``, else ``None``."""
    found = iter(computed)
    return [next(found) if w else None for w in wanted]

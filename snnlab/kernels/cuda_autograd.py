"""Autograd of the fused CUDA kernels (``multistep.cuh``), apart from how they are compiled and launched.

A *launcher* runs the forward or backward kernel of a declaration with arguments given by name (see
:func:`snnlab.kernels.codegen.kernel_params`); ``like`` is an output tensor that tells the device and the I/O
dtype.  The cupy backend launches with CuPy on the GPU; the tests launch the same kernels built for the host.
The forward saves only the charged values (fp32) and, where the gradients read it, the input; spikes and the
states before each step are rebuilt from them in the backward.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from snnlab.kernels import torch_backend
from snnlab.kernels.fused_args import FusedArgs, no_grad, output_grads, wanted_grads
from snnlab.kernels.op_keys import declaration, launcher_key, launcher_of
from snnlab.math.dynamics import NeuronDynamics
from snnlab.math.symbolic_step import symbolic_step

Launcher = Callable[[NeuronDynamics, str, dict[str, Any], torch.Tensor], None]
"""``launch(dyn, "forward" or "backward", arguments by name (absent pointers: null), like)``."""


@torch.library.custom_op("snnlab::fused_multi_step", mutates_args=())
def forward_op(
    launcher: str,
    dynamics: str,
    x_seq: Tensor,
    states: list[Tensor],
    tensors: list[Tensor],
    fixed: list[float],
    is_tensor: list[bool],
    store_v_seq: bool,
    save: bool,
) -> list[Tensor]:
    """The forward of the declaration keyed ``dynamics`` run by the launcher keyed ``launcher``
    (:mod:`snnlab.kernels.op_keys`) on ``x_seq [T, N]`` and ``states [N]``, parameters as
    :meth:`FusedArgs.op_args` gives them: ``[s_seq, *last states, v_seq if store_v_seq, c_seq if save]``."""
    args, tensors = FusedArgs.of_op(dynamics, x_seq, tensors, fixed, is_tensor)
    T, N = x_seq.shape
    s_seq = torch.empty_like(x_seq)
    last = [torch.empty_like(s) for s in states]
    v_seq = torch.empty_like(x_seq) if store_v_seq else None
    c_seq = torch.empty((len(states), T, N), dtype=torch.float32, device=x_seq.device) if save else None
    values = {**args.values(states, tensors, host=False), "x_seq": x_seq, "c_seq": c_seq}
    values |= args.output_values(s_seq, v_seq, last)
    launcher_of(launcher)(args.dyn, "forward", values, s_seq)
    return [s_seq, *last, *(t for t in (v_seq, c_seq) if t is not None)]


@forward_op.register_fake
def _forward_fake(
    launcher: str,
    dynamics: str,
    x_seq: Tensor,
    states: list[Tensor],
    tensors: list[Tensor],
    fixed: list[float],
    is_tensor: list[bool],
    store_v_seq: bool,
    save: bool,
) -> list[Tensor]:
    c_seq = x_seq.new_empty((len(states), *x_seq.shape), dtype=torch.float32)
    v_seq = torch.empty_like(x_seq)
    return [
        torch.empty_like(x_seq),
        *map(torch.empty_like, states),
        *([v_seq] if store_v_seq else []),
        *([c_seq] if save else []),
    ]


@torch.library.custom_op("snnlab::fused_multi_step_backward", mutates_args=())
def backward_op(
    launcher: str,
    dynamics: str,
    c_seq: Tensor,
    x_seq: Tensor | None,
    states: list[Tensor],
    tensors: list[Tensor],
    fixed: list[float],
    is_tensor: list[bool],
    grad_s: Tensor | None,
    grad_v_seq: Tensor | None,
    grad_last: list[Tensor | None],
    wanted: list[bool],
) -> list[Tensor]:
    """Backpropagation through :func:`forward_op` from its charged values ``c_seq`` (and ``x_seq`` where the
    gradients read it; ``None`` gradients: zero): ``[grad x_seq, *grad states, *grad of each wanted parameter
    tensor]``."""
    _, T, N = c_seq.shape
    args, tensors = FusedArgs.of_op(dynamics, c_seq[0], tensors, fixed, is_tensor)
    grad_x = torch.empty((T, N), dtype=states[0].dtype, device=c_seq.device)
    grad_init = [torch.empty_like(s) for s in states]
    want = iter(wanted)
    grad_p = [
        torch.empty(N, dtype=torch.float32, device=c_seq.device) if t is not None and next(want) else None
        for t in tensors
    ]
    values = {**args.values(states, tensors, host=False), "x_seq": x_seq, "c_seq": c_seq, "grad_x_seq": grad_x}
    values |= args.grad_values(grad_s, grad_v_seq, grad_last, grad_init, grad_p)
    launcher_of(launcher)(args.dyn, "backward", values, grad_x)
    grads = args.param_grads(grad_p, tensors, lambda g: g.sum(dtype=torch.float64))
    return [grad_x, *grad_init, *(g for g in grads if g is not None)]


@backward_op.register_fake
def _backward_fake(
    launcher: str,
    dynamics: str,
    c_seq: Tensor,
    x_seq: Tensor | None,
    states: list[Tensor],
    tensors: list[Tensor],
    fixed: list[float],
    is_tensor: list[bool],
    grad_s: Tensor | None,
    grad_v_seq: Tensor | None,
    grad_last: list[Tensor | None],
    wanted: list[bool],
) -> list[Tensor]:
    grad_x = states[0].new_empty(c_seq.shape[1:])
    grad_p = [torch.empty_like(t) for t, w in zip(tensors, wanted) if w]
    return [grad_x, *map(torch.empty_like, states), *grad_p]


def _setup_context(ctx: Any, inputs: tuple[Any, ...], output: list[Tensor]) -> None:
    launcher, dynamics, x_seq, states, tensors, fixed, is_tensor, store_v_seq, _ = inputs
    step = symbolic_step(declaration(dynamics))
    param_grads = any(t.requires_grad for t in tensors)
    keep_x = step.x_in_grads(params=False) or (param_grads and step.x_in_grads(params=True))
    ctx.set_materialize_grads(False)
    ctx.op_args, ctx.n_states, ctx.store_v_seq = (launcher, dynamics, fixed, is_tensor), len(states), store_v_seq
    ctx.launch = launcher_of(launcher)  # holds a launcher made for this call until the backward
    ctx.save_for_backward(output[-1], x_seq if keep_x else None, *states, *tensors)


def _backward(ctx: Any, grads: list[Tensor | None]) -> tuple[Any, ...]:
    launcher, dynamics, fixed, is_tensor = ctx.op_args
    n = ctx.n_states
    c_seq, x_seq, *saved = ctx.saved_tensors
    states, tensors = saved[:n], saved[n:]
    grad_s, grad_last, grad_v_seq = output_grads(grads, n, ctx.store_v_seq)
    wanted = list(ctx.needs_input_grad[4])
    grad_x, *rest = backward_op(
        launcher, dynamics, c_seq, x_seq, states, tensors, fixed, is_tensor, grad_s, grad_v_seq, grad_last, wanted
    )
    grad_p = wanted_grads(wanted, rest[n:])
    return None, None, grad_x, rest[:n], grad_p, no_grad(fixed), no_grad(is_tensor), None, None


forward_op.register_autograd(_backward, setup_context=_setup_context)


def multi_step(
    launch: Launcher,
    dyn: NeuronDynamics,
    x_seq: torch.Tensor,
    states: Sequence[torch.Tensor | float],
    params: Sequence[Any],
    store_v_seq: bool,
) -> tuple[torch.Tensor, tuple[torch.Tensor, ...], torch.Tensor | None]:
    """Run ``T`` steps with the kernels ``launch`` runs; returns ``(s_seq, last states, v_seq or None)`` like the
    torch backend (arguments as there)."""
    if x_seq.numel() == 0:
        return torch_backend.multi_step(dyn, x_seq, states, params, store_v_seq)
    args, x, states, tensors = FusedArgs.prepare(dyn, x_seq, states, params, x_seq.dtype)
    save = torch_backend.needs_grad(x, *states, *tensors)
    key, given, fixed, is_tensor = args.op_args(tensors)
    s_seq, *rest = forward_op(launcher_key(launch), key, x, states, given, fixed, is_tensor, store_v_seq, save)
    n = len(states)
    return args.outputs(s_seq, rest[n] if store_v_seq else None, rest[:n])

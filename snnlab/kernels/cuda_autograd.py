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

from snnlab.kernels import torch_backend
from snnlab.kernels.fused_args import FusedArgs
from snnlab.math.dynamics import NeuronDynamics
from snnlab.math.symbolic_step import symbolic_step

Launcher = Callable[[NeuronDynamics, str, dict[str, Any], torch.Tensor], None]
"""``launch(dyn, "forward" or "backward", arguments by name (absent pointers: null), like)``."""
FIRST_STATE = 5
"""Index of the first state among :meth:`MultiStep.forward`'s inputs (after ``launch`` ... ``x_seq``)."""


class MultiStep(torch.autograd.Function):
    """``(x_seq [T, N], *states [N], *parameter tensors)`` → ``(s_seq, v_seq or None, *last states)``."""

    @staticmethod
    def forward(
        ctx: Any,
        launch: Launcher,
        args: FusedArgs,
        store_v_seq: bool,
        needs_grad: bool,
        x_seq: torch.Tensor,
        *inputs: torch.Tensor | None,
    ) -> tuple[torch.Tensor | None, ...]:
        dyn = args.dyn
        T, N = x_seq.shape
        states, tensors = args.split(inputs)
        s_seq = torch.empty_like(x_seq)
        last = [torch.empty_like(s) for s in states]
        v_seq = torch.empty_like(x_seq) if store_v_seq else None
        c_seq = torch.empty((len(states), T, N), dtype=torch.float32, device=x_seq.device) if needs_grad else None
        values = {**args.values(states, tensors, host=False), "x_seq": x_seq, "c_seq": c_seq}
        values |= args.output_values(s_seq, v_seq, last)
        launch(dyn, "forward", values, s_seq)
        if needs_grad:
            step = symbolic_step(dyn)
            param_grads = any(ctx.needs_input_grad[FIRST_STATE + len(states) :])
            keep_x = step.x_in_grads(params=False) or (param_grads and step.x_in_grads(params=True))
            ctx.set_materialize_grads(False)
            ctx.launch, ctx.args = launch, args
            ctx.save_for_backward(c_seq, x_seq if keep_x else None, *states, *tensors)
        return s_seq, v_seq, *last

    @staticmethod
    def backward(
        ctx: Any, grad_s: torch.Tensor | None, grad_v_seq: torch.Tensor | None, *grad_last: torch.Tensor | None
    ) -> tuple[torch.Tensor | None, ...]:
        args = ctx.args
        dyn = args.dyn
        c_seq, x_seq, *saved = ctx.saved_tensors
        states, tensors = args.split(saved)
        _, T, N = c_seq.shape
        wanted = ctx.needs_input_grad[FIRST_STATE + len(states) :]
        grad_x = torch.empty((T, N), dtype=states[0].dtype, device=c_seq.device)
        grad_init = [torch.empty_like(s) for s in states]
        grad_p = [torch.empty(N, dtype=torch.float32, device=c_seq.device) if w else None for w in wanted]
        values = {**args.values(states, tensors, host=False), "x_seq": x_seq, "c_seq": c_seq, "grad_x_seq": grad_x}
        values |= args.grad_values(grad_s, grad_v_seq, grad_last, grad_init, grad_p)
        ctx.launch(dyn, "backward", values, grad_x)
        grads = args.param_grads(grad_p, tensors, lambda g: g.sum(dtype=torch.float64))
        return None, None, None, None, grad_x, *grad_init, *grads


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
    needs_grad = torch_backend.needs_grad(x, *states, *tensors)
    s_seq, v_seq, *last = MultiStep.apply(launch, args, store_v_seq, needs_grad, x, *states, *tensors)
    return args.outputs(s_seq, v_seq, last)

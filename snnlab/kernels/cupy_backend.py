"""The ``cupy`` backend: fused CUDA kernels for multi-step neuron dynamics.

One launch runs the forward over all ``T`` steps (one thread per neuron element, its states in registers) and
one launch runs backpropagation through time.  The forward saves only the charged values (fp32) and, where the
gradients read it, the input; spikes and the states before each step are rebuilt from them in the backward.
Sources come from :mod:`snnlab.kernels.codegen`; each ``(dynamics, dtype)`` variant is compiled once per
process by NVRTC (CuPy also caches the binary on disk, in ``~/.cupy/kernel_cache`` or ``$CUPY_CACHE_DIR``).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import cupy
import numpy as np
import torch

from snnlab.kernels import torch_backend
from snnlab.kernels.codegen import kernel_names, kernel_params, kernel_source
from snnlab.kernels.fused_args import FusedArgs
from snnlab.math.dynamics import NeuronDynamics
from snnlab.math.symbolic_step import symbolic_step

BLOCK = 256  # SNNLAB_BLOCK in multistep.cuh
NVRTC_OPTIONS = ("--std=c++17", "--fmad=false")
"""``--fmad=false`` keeps every fp32 operation rounded as torch rounds it, so spikes match bit for bit."""


@cache
def compiled(dyn: NeuronDynamics, dtype: torch.dtype, device: int) -> tuple[Any, Any]:
    """The ``(forward, backward)`` kernels of a variant, compiled on first use."""
    source = kernel_source(dyn, dtype)
    try:
        with cupy.cuda.Device(device):
            module = cupy.RawModule(code=source, options=NVRTC_OPTIONS)
            return tuple(module.get_function(n) for n in kernel_names(dyn, dtype))
    except cupy.cuda.compiler.CompileException as e:
        raise RuntimeError(
            f"compiling the cupy kernels for {dyn!r} ({dtype}) failed; please report it with the log below "
            "and use backend='torch' meanwhile.  'could not open source file \"cuda_fp16.h\"' means NVRTC finds "
            "no CUDA headers: install the nvidia-cuda-runtime wheel matching your CUDA (PyPI torch brings it) "
            f"or a CUDA toolkit, and set CUDA_PATH.\n{e}"
        ) from e


def _arg(ctype: str, value: Any) -> Any:
    if "*" in ctype:
        return np.uint64(0 if value is None else value.data_ptr())
    return np.float32(value or 0.0) if ctype == "float" else np.int64(value)


def _launch(kernel: Any, params: list[tuple[str, str]], values: dict[str, Any], x: torch.Tensor) -> None:
    """Launch on PyTorch's current stream of ``x``'s device, one thread per neuron element; ``values`` holds the
    kernel's arguments by name (absent pointers are null)."""
    args = tuple(_arg(ctype, values.get(name)) for ctype, name in params)
    stream = torch.cuda.current_stream(x.device)
    with cupy.cuda.Device(x.device.index), cupy.cuda.ExternalStream(stream.cuda_stream, x.device.index):
        kernel(((values["N"] + BLOCK - 1) // BLOCK,), (BLOCK,), args)


class MultiStep(torch.autograd.Function):
    """``(x_seq [T, N], *states [N], *parameter tensors)`` → ``(s_seq, v_seq or None, *last states)``."""

    @staticmethod
    def forward(
        ctx: Any, args: FusedArgs, store_v_seq: bool, needs_grad: bool, x_seq: torch.Tensor, *inputs: Any
    ) -> tuple[torch.Tensor | None, ...]:
        dyn = args.dyn
        fwd, bwd = compiled(dyn, x_seq.dtype, x_seq.device.index)
        T, N = x_seq.shape
        states, tensors = inputs[: len(dyn.states)], inputs[len(dyn.states) :]
        s_seq = torch.empty_like(x_seq)
        last = [torch.empty_like(s) for s in states]
        v_seq = torch.empty_like(x_seq) if store_v_seq else None
        c_seq = torch.empty((len(states), T, N), dtype=torch.float32, device=x_seq.device) if needs_grad else None
        values = {**args.values(states, tensors, host=False), "x_seq": x_seq, "s_seq": s_seq}
        values |= {"c_seq": c_seq, "v_seq": v_seq}
        values |= {f"last_{k}": t for k, t in zip(dyn.state_names, last)}
        _launch(fwd, kernel_params(dyn)[0], values, x_seq)
        if needs_grad:
            param_grads = any(ctx.needs_input_grad[4 + len(states) :])
            step = symbolic_step(dyn)
            keep_x = step.x_in_grads(params=False) or (param_grads and step.x_in_grads(params=True))
            ctx.set_materialize_grads(False)
            ctx.args, ctx.kernel = args, bwd
            ctx.save_for_backward(c_seq, x_seq if keep_x else None, *states, *tensors)
        return s_seq, v_seq, *last

    @staticmethod
    def backward(
        ctx: Any, grad_s: torch.Tensor | None, grad_v_seq: torch.Tensor | None, *grad_last: torch.Tensor | None
    ) -> tuple[torch.Tensor | None, ...]:
        args = ctx.args
        dyn = args.dyn
        c_seq, x_seq, *saved = ctx.saved_tensors
        states, tensors = saved[: len(dyn.states)], saved[len(dyn.states) :]
        _, T, N = c_seq.shape
        wanted = ctx.needs_input_grad[4 + len(states) :]
        grad_x = torch.empty((T, N), dtype=states[0].dtype, device=c_seq.device)
        grad_init = [torch.empty_like(s) for s in states]
        grad_p = {q.name: torch.empty(N, dtype=torch.float32, device=c_seq.device) if w else None
                  for q, w in zip(dyn.params, wanted)}  # fmt: skip
        values = {**args.values(states, tensors, host=False), "x_seq": x_seq, "c_seq": c_seq, "grad_x_seq": grad_x}
        values |= {"grad_s_seq": _contiguous(grad_s), "grad_v_seq": _contiguous(grad_v_seq)}
        for k, g_last, g_init in zip(dyn.state_names, grad_last, grad_init):
            values |= {f"grad_last_{k}": _contiguous(g_last), f"grad_init_{k}": g_init}
        values |= {f"grad_{q}": g for q, g in grad_p.items()}
        _launch(ctx.kernel, kernel_params(dyn)[1], values, c_seq)
        grads = args.param_grads(list(grad_p.values()), tensors, lambda g: g.sum(dtype=torch.float64))
        return None, None, None, grad_x, *grad_init, *grads


def _contiguous(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else t.contiguous()


def multi_step(
    dyn: NeuronDynamics,
    x_seq: torch.Tensor,
    states: Sequence[torch.Tensor | float],
    params: Sequence[Any],
    store_v_seq: bool,
) -> tuple[torch.Tensor, tuple[torch.Tensor, ...], torch.Tensor | None]:
    """Run ``T`` steps on the GPU; returns ``(s_seq, last states, v_seq or None)`` like the torch backend.

    States may be Python floats or tensors broadcastable to one step; parameters floats, 0-dim tensors or
    ``[C]`` tensors per channel (learnable ones get their gradient computed on the device).
    """
    if x_seq.numel() == 0:
        return torch_backend.multi_step(dyn, x_seq, states, params, store_v_seq)
    args, x, states, tensors = FusedArgs.prepare(dyn, x_seq, states, params, x_seq.dtype)
    needs_grad = torch_backend.needs_grad(x, *states, *tensors)
    s_seq, v_seq, *last = MultiStep.apply(args, store_v_seq, needs_grad, x, *states, *tensors)
    return args.outputs(s_seq, v_seq, last)

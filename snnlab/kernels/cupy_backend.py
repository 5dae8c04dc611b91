"""The ``cupy`` backend: fused CUDA kernels for multi-step neuron dynamics.

One launch runs the forward over all ``T`` steps (one thread per neuron element, the state in registers) and
one launch runs backpropagation through time.  The forward saves only ``h`` (fp32) and, where ``∂h/∂θ``
needs it, the input; spikes and ``v[t-1]`` are recomputed from ``h`` in the backward.  Sources come from
:mod:`snnlab.kernels.codegen`; each ``(dynamics, dtype)`` variant is compiled once per process by NVRTC
(CuPy also caches the binary on disk, in ``~/.cupy/kernel_cache`` or ``$CUPY_CACHE_DIR``).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import cupy
import numpy as np
import torch

from snnlab.kernels import torch_backend
from snnlab.kernels.codegen import kernel_names, kernel_source, render_math
from snnlab.math.dynamics import NeuronDynamics

BLOCK = 256  # SNNLAB_BLOCK in multistep.cuh
NVRTC_OPTIONS = ("--std=c++17", "--fmad=false")
"""``--fmad=false`` keeps every fp32 operation rounded as torch rounds it, so spikes match bit for bit."""

Kernels = tuple[Any, Any, Any]


@cache
def compiled(dyn: NeuronDynamics, dtype: torch.dtype, device: int) -> Kernels:
    """The ``(forward, backward, backward with θ gradient)`` kernels of a variant, compiled on first use."""
    source = kernel_source(dyn, dtype)
    names = kernel_names(dyn, dtype)
    try:
        with cupy.cuda.Device(device):
            module = cupy.RawModule(code=source, options=NVRTC_OPTIONS)
            return tuple(None if n is None else module.get_function(n) for n in names)
    except cupy.cuda.compiler.CompileException as e:
        raise RuntimeError(
            f"compiling the cupy kernels for {dyn!r} ({dtype}) failed; please report it with the log below "
            "and use backend='torch' meanwhile.  'could not open source file \"cuda_fp16.h\"' means NVRTC finds "
            "no CUDA headers: install the nvidia-cuda-runtime wheel matching your CUDA (PyPI torch brings it) "
            f"or a CUDA toolkit, and set CUDA_PATH.\n{e}"
        ) from e


def _ptr(t: torch.Tensor | None) -> np.uint64:
    return np.uint64(0 if t is None else t.data_ptr())


def _launch(kernel: Any, n: int, x: torch.Tensor, *args: Any) -> None:
    """Launch on PyTorch's current stream of ``x``'s device, one thread per neuron element."""
    stream = torch.cuda.current_stream(x.device)
    with cupy.cuda.Device(x.device.index), cupy.cuda.ExternalStream(stream.cuda_stream, x.device.index):
        kernel(((n + BLOCK - 1) // BLOCK,), (BLOCK,), args)


class MultiStep(torch.autograd.Function):
    """``(x_seq [T, N], v [N], theta [1] fp32 or None)`` → ``(s_seq, v_last, v_seq or None)``."""

    @staticmethod
    def forward(
        ctx: Any,
        x_seq: torch.Tensor,
        v: torch.Tensor,
        theta: torch.Tensor | None,
        theta_val: float,
        dyn: NeuronDynamics,
        store_v_seq: bool,
        needs_grad: bool,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        fwd, bwd, bwd_theta = compiled(dyn, x_seq.dtype, x_seq.device.index)
        T, N = x_seq.shape
        s_seq = torch.empty_like(x_seq)
        v_last = torch.empty_like(v)
        v_seq = torch.empty_like(x_seq) if store_v_seq else None
        h_seq = torch.empty(x_seq.shape, dtype=torch.float32, device=x_seq.device) if needs_grad else None
        _launch(
            fwd, N, x_seq, _ptr(x_seq), _ptr(v), _ptr(theta), np.float32(theta_val),
            _ptr(s_seq), _ptr(h_seq), _ptr(v_seq), _ptr(v_last), np.int64(T), np.int64(N),
        )  # fmt: skip
        if needs_grad:
            ctx.theta_grad = theta is not None and ctx.needs_input_grad[2]
            ctx.kernel = bwd_theta if ctx.theta_grad else bwd
            ctx.theta_val = theta_val
            neuron = render_math(dyn)
            keep_x = neuron.x_in_grads or (ctx.theta_grad and neuron.x_in_theta_grad)
            ctx.save_for_backward(h_seq, x_seq if keep_x else None, v, theta)
        return s_seq, v_last, v_seq

    @staticmethod
    def backward(
        ctx: Any, grad_s: torch.Tensor | None, grad_v_last: torch.Tensor | None, grad_v_seq: torch.Tensor | None
    ) -> tuple[torch.Tensor | None, ...]:
        h_seq, x_seq, v, theta = ctx.saved_tensors
        T, N = h_seq.shape
        grad_x = torch.empty(h_seq.shape, dtype=v.dtype, device=v.device)
        grad_s = torch.zeros_like(grad_x) if grad_s is None else grad_s.contiguous()
        grad_v_last = None if grad_v_last is None else grad_v_last.contiguous()
        grad_v_seq = None if grad_v_seq is None else grad_v_seq.contiguous()
        grad_v = torch.empty_like(v)
        grad_theta = torch.zeros(1, dtype=torch.float32, device=v.device) if ctx.theta_grad else None
        _launch(
            ctx.kernel, N, v, _ptr(grad_s), _ptr(grad_v_seq), _ptr(grad_v_last), _ptr(h_seq),
            _ptr(x_seq), _ptr(v), _ptr(theta), np.float32(ctx.theta_val), _ptr(grad_x), _ptr(grad_v),
            _ptr(grad_theta), np.int64(T), np.int64(N),
        )  # fmt: skip
        return grad_x, grad_v, grad_theta, None, None, None, None


def multi_step(
    dyn: NeuronDynamics,
    x_seq: torch.Tensor,
    v: torch.Tensor,
    theta: torch.Tensor | float | None,
    store_v_seq: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Run ``T`` steps on the GPU; returns ``(s_seq, v_last, v_seq or None)`` like the torch backend.

    ``v`` may be a Python float or any tensor broadcastable to one step; ``theta`` a float, a 0-dim tensor
    (learnable: its gradient is computed on the device) or ``None`` for IF.
    """
    if x_seq.numel() == 0:
        return torch_backend.multi_step(dyn, x_seq, v, theta, store_v_seq)
    shape = x_seq.shape
    x = x_seq.reshape(shape[0], -1).contiguous()
    if isinstance(v, torch.Tensor):
        v = v.to(x.device, x.dtype).expand(shape[1:]).reshape(-1).contiguous()
    else:
        v = torch.full((x.shape[1],), float(v), dtype=x.dtype, device=x.device)
    theta_t = theta.to(x.device, torch.float32).reshape(1) if isinstance(theta, torch.Tensor) else None
    theta_val = 0.0 if theta is None or theta_t is not None else float(theta)
    needs_grad = torch_backend.needs_grad(x, v, theta_t)
    s_seq, v_last, v_seq = MultiStep.apply(x, v, theta_t, theta_val, dyn, store_v_seq, needs_grad)
    return s_seq.view(shape), v_last.view(shape[1:]), None if v_seq is None else v_seq.view(shape)

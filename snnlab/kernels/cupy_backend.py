"""The ``cupy`` backend: fused CUDA kernels for multi-step neuron dynamics.

One launch runs the forward over all ``T`` steps (one thread per neuron element, its states in registers) and
one launch runs backpropagation through time (:mod:`snnlab.kernels.cuda_autograd`).  Sources come from
:mod:`snnlab.kernels.codegen`; each ``(dynamics, dtype)`` variant is compiled once per process by NVRTC (CuPy
also caches the binary on disk, in ``~/.cupy/kernel_cache`` or ``$CUPY_CACHE_DIR``).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import cupy
import numpy as np
import torch

from snnlab.kernels import cuda_autograd
from snnlab.kernels.codegen import kernel_names, kernel_params, kernel_source
from snnlab.math.dynamics import NeuronDynamics

BLOCK = 256  # SNNLAB_BLOCK in multistep.cuh
NVRTC_OPTIONS = ("--std=c++17", "--fmad=false")
"""``--fmad=false`` keeps every fp32 operation rounded as torch rounds it, so spikes match bit for bit."""


@cache
def compiled(dyn: NeuronDynamics, dtype: torch.dtype, device: int) -> dict[str, Any]:
    """The ``forward`` and ``backward`` kernels of a variant, compiled on first use."""
    source = kernel_source(dyn, dtype)
    try:
        with cupy.cuda.Device(device):
            module = cupy.RawModule(code=source, options=NVRTC_OPTIONS)
            return dict(zip(("forward", "backward"), map(module.get_function, kernel_names(dyn, dtype))))
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


def launch(dyn: NeuronDynamics, direction: str, values: dict[str, Any], like: torch.Tensor) -> None:
    """Launch a kernel on PyTorch's current stream of ``like``'s device, one thread per neuron element."""
    params = kernel_params(dyn)[direction == "backward"]
    args = tuple(_arg(ctype, values.get(name)) for ctype, name in params)
    device = like.device.index
    kernel = compiled(dyn, like.dtype, device)[direction]
    stream = torch.cuda.current_stream(like.device)
    with cupy.cuda.Device(device), cupy.cuda.ExternalStream(stream.cuda_stream, device):
        kernel(((values["N"] + BLOCK - 1) // BLOCK,), (BLOCK,), args)


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
    return cuda_autograd.multi_step(launch, dyn, x_seq, states, params, store_v_seq)

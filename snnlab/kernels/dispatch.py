"""Backend selection for multi-step neuron dynamics.  No silent fallback: an explicit backend that cannot
run raises with the reason and the fix."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import cache

import torch

BACKENDS = ("auto", "torch", "cupy")
CUPY_HINT = (
    'install CuPy with `pip install "snnlab[gpu]"` (CUDA 13 torch) or the cupy-cudaXXx wheel matching '
    "torch.version.cuda (e.g. `pip install cupy-cuda12x` for CUDA 12)"
)


def check_backend(name: str) -> str:
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; valid: {BACKENDS}")
    return name


@cache
def cupy_import_error() -> str | None:
    """``None`` when CuPy imports and sees a GPU, else the reason it cannot be used."""
    try:
        cupy = importlib.import_module("cupy")
    except ImportError as e:
        return f"CuPy is not installed ({e})"
    try:
        cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # CUDA driver/runtime errors come in several types
        return f"CuPy cannot reach a CUDA device ({e})"
    return None


def resolve_backend(name: str, x: torch.Tensor) -> str:
    """The concrete backend (``torch`` or ``cupy``) that runs ``name`` on ``x``."""
    check_backend(name)
    if name == "auto":
        return "cupy" if x.is_cuda and cupy_import_error() is None else "torch"
    if name == "cupy":
        if not x.is_cuda:
            raise RuntimeError(
                f"backend 'cupy' runs on CUDA tensors, got a tensor on {x.device}; move the model to a GPU "
                "or use backend='torch' (or 'auto')"
            )
        reason = cupy_import_error()
        if reason is not None:
            raise RuntimeError(f"backend 'cupy' is unavailable: {reason}; {CUPY_HINT}")
    return name


def multi_step_fn(name: str, x: torch.Tensor) -> Callable:
    """The ``multi_step(dyn, x_seq, v, theta, store_v_seq)`` function of the backend resolved for ``x``."""
    backend = resolve_backend(name, x)
    module = importlib.import_module(f"snnlab.kernels.{backend}_backend")
    return module.multi_step

"""Backends of the multi-step neuron loop: ``torch`` (reference loop), ``cpu`` (fused loops compiled by Numba)
and ``cupy`` (fused CUDA kernels).

Backends import only :mod:`snnlab.math`; each registers itself as a ``backend`` component.
"""

import importlib
from functools import cache

import torch

from snnlab.kernels.backend import AUTO, Backend, check_backend, multi_step_for, register_backend, resolve_backend

FUSED_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
"""Input dtypes of the fused backends (they compute in fp32); ``auto`` leaves others (e.g. fp64) to ``torch``."""
NUMBA_HINT = "install Numba with `pip install numba` (a dependency of snnlab) or use backend='torch'"

CUPY_HINT = (
    'install CuPy with `pip install "snnlab[gpu]"` (CUDA 13 torch) or the cupy-cudaXXx wheel matching '
    "torch.version.cuda (e.g. `pip install cupy-cuda12x` for CUDA 12)"
)


@cache
def numba_import_error() -> str | None:
    """``None`` when Numba imports, else the reason it cannot be used."""
    try:
        importlib.import_module("numba")
    except ImportError as e:
        return f"Numba does not import ({e})"
    return None


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


TORCH = register_backend(Backend("torch", ("cpu", "cuda"), "snnlab.kernels.torch_backend"))
CPU = register_backend(
    Backend("cpu", ("cpu",), "snnlab.kernels.cpu_backend", numba_import_error, NUMBA_HINT, FUSED_DTYPES)
)
CUPY = register_backend(
    Backend("cupy", ("cuda",), "snnlab.kernels.cupy_backend", cupy_import_error, CUPY_HINT, FUSED_DTYPES)
)

__all__ = [
    "AUTO",
    "CPU",
    "CUPY",
    "CUPY_HINT",
    "FUSED_DTYPES",
    "NUMBA_HINT",
    "TORCH",
    "Backend",
    "check_backend",
    "cupy_import_error",
    "multi_step_for",
    "numba_import_error",
    "resolve_backend",
]

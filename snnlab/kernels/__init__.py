"""Backends of the multi-step neuron loop: ``torch`` (reference loop) and ``cupy`` (fused CUDA kernels).

Backends import only :mod:`snnlab.math`; each registers itself as a ``backend`` component.
"""

import importlib
from functools import cache

from snnlab.kernels.backend import AUTO, Backend, check_backend, register_backend, resolve_backend

CUPY_HINT = (
    'install CuPy with `pip install "snnlab[gpu]"` (CUDA 13 torch) or the cupy-cudaXXx wheel matching '
    "torch.version.cuda (e.g. `pip install cupy-cuda12x` for CUDA 12)"
)


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
CUPY = register_backend(Backend("cupy", ("cuda",), "snnlab.kernels.cupy_backend", cupy_import_error, CUPY_HINT))

__all__ = ["AUTO", "CUPY", "CUPY_HINT", "TORCH", "Backend", "check_backend", "cupy_import_error", "resolve_backend"]

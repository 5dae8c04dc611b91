"""Backends for multi-step neuron dynamics: ``torch`` (reference loop) and ``cupy`` (fused CUDA kernels)."""

from snnlab.kernels.dispatch import BACKENDS, check_backend, multi_step_fn, resolve_backend

__all__ = ["BACKENDS", "check_backend", "multi_step_fn", "resolve_backend"]

"""Backend resolution on CPU: no silent fallback for an explicit backend."""

import pytest
import torch

from snnlab.kernels import TORCH, resolve_backend, torch_backend


def test_auto_on_cpu_never_picks_a_gpu_backend():
    backend = resolve_backend("auto", torch.zeros(2, 3))
    assert "cpu" in backend.devices
    assert resolve_backend("torch", torch.zeros(1)) is TORCH
    assert TORCH.multi_step is torch_backend.multi_step


def test_cupy_on_cpu_tensor_is_a_clear_error():
    with pytest.raises(ValueError, match=r"^backend='cupy': runs on cuda tensors, not on the cpu; use auto"):
        resolve_backend("cupy", torch.zeros(2, 3))


def test_unknown_backend_lists_the_registered_ones():
    with pytest.raises(ValueError, match=r"^backend='triton': unknown neuron backend; valid: auto, cpu, cupy, torch"):
        resolve_backend("triton", torch.zeros(1))

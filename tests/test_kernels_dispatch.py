"""Backend resolution on CPU: no silent fallback for an explicit backend."""

import pytest
import torch

from snnlab.kernels import multi_step_fn, resolve_backend, torch_backend


def test_auto_on_cpu_resolves_to_torch():
    x = torch.zeros(2, 3)
    assert resolve_backend("auto", x) == "torch"
    assert multi_step_fn("auto", x) is torch_backend.multi_step


def test_cupy_on_cpu_tensor_is_a_clear_error():
    with pytest.raises(RuntimeError, match=r"backend 'cupy' runs on CUDA tensors, got a tensor on cpu"):
        multi_step_fn("cupy", torch.zeros(2, 3))


def test_unknown_backend_raises():
    with pytest.raises(ValueError, match=r"unknown backend 'triton'; valid: \('auto', 'torch', 'cupy'\)"):
        resolve_backend("triton", torch.zeros(1))

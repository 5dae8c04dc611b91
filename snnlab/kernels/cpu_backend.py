"""The ``cpu`` backend: fused multi-step neuron loops compiled by Numba.

One pass runs the forward over all ``T`` steps and one pass runs backpropagation through time, each over
chunks of neurons that the calling thread and a small pool share (``torch.get_num_threads()`` in all).  The
forward writes only its outputs and saves its input; the backward recomputes each block's forward in cache
(see :mod:`snnlab.kernels.multistep_cpu`).  The sources come from :mod:`snnlab.kernels.cpu_codegen`; each is
written to :func:`kernel_dir` as a module named by a digest of its text, and Numba caches the compiled code
beside it, so a kernel compiles once per machine (about a second) and later processes load it in milliseconds.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch
from numba.core.errors import NumbaError

from snnlab.kernels import torch_backend
from snnlab.kernels.cpu_codegen import BLOCK, KernelModule, backward_module, forward_module
from snnlab.math.dynamics import NeuronDynamics

CHUNK_STEPS = 1 << 18
"""Neuron steps (``T × neurons``) per unit of work handed to a thread (at least one block of neurons)."""

_EMPTY_SEQ = np.empty((0, 0), np.float32)
_EMPTY_STATE = np.empty(0, np.float32)


def kernel_dir() -> Path:
    """Where generated kernel modules (and, in ``__pycache__``, Numba's compiled code) are kept:
    ``$SNNLAB_CACHE_DIR/cpu_kernels``, by default ``$XDG_CACHE_HOME/snnlab`` or ``~/.cache/snnlab``."""
    root = os.environ.get("SNNLAB_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache") / "snnlab"
    return Path(root).expanduser() / "cpu_kernels"


@cache
def _writable_kernel_dir() -> Path:
    path = kernel_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
        if os.access(path, os.W_OK):
            return path
    except OSError:
        pass
    fallback = Path(tempfile.mkdtemp(prefix="snnlab-cpu-kernels-"))
    warnings.warn(
        f"cannot write the CPU kernel cache {path}; compiling into {fallback} for this process only "
        "(set SNNLAB_CACHE_DIR to a writable folder to keep compiled kernels across runs)",
        RuntimeWarning,
        stacklevel=3,
    )
    return fallback


@cache
def forward_kernel(dyn: NeuronDynamics) -> Callable[..., None]:
    """The compiled ``forward`` of ``dyn`` (shared by its reset, ``detach_reset`` and surrogate variants)."""
    return _load(forward_module(dyn)).forward


@cache
def backward_kernel(dyn: NeuronDynamics) -> Callable[..., float]:
    """The compiled ``backward`` of ``dyn`` (shared by its reset and ``detach_reset`` variants)."""
    return _load(backward_module(dyn)).backward


@cache
def _load(kernel: KernelModule) -> ModuleType:
    """Write ``kernel``'s source to the cache folder, import it and compile it (or load it from Numba's cache)."""
    path = _writable_kernel_dir() / f"{kernel.name}.py"
    if not path.exists() or path.read_text() != kernel.source:  # leave an intact file alone: Numba's cache
        tmp = path.with_suffix(f".{os.getpid()}.tmp")  # keys on its modification time
        tmp.write_text(kernel.source)
        os.replace(tmp, path)
    spec = importlib.util.spec_from_file_location(kernel.name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[kernel.name] = module
    spec.loader.exec_module(module)
    x, v = np.zeros((1, 1), np.float32), np.zeros(1, np.float32)
    try:  # compile for the argument types of every later call
        if hasattr(module, "forward"):
            module.forward(x, v, np.float32(0), False, x.copy(), _EMPTY_SEQ, v.copy(), 0, 1)
        else:
            module.backward(
                x, _EMPTY_SEQ, _EMPTY_STATE, x, v, np.float32(0), False, False, False, x.copy(), v.copy(), 0, 1
            )
    except NumbaError as e:
        raise RuntimeError(
            f"compiling the cpu kernel {path} failed; please report it with the message below and use "
            f"backend='torch' meanwhile.\n{e}"
        ) from e
    return module


@cache
def _pool(workers: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(workers, thread_name_prefix="snnlab-cpu")


if hasattr(os, "register_at_fork"):  # a forked child has none of the parent's threads
    os.register_at_fork(after_in_child=_pool.cache_clear)


def _run(kernel: Callable[..., Any], n: int, T: int, *args: Any) -> list[Any]:
    """``kernel(*args, start, stop)`` over the neurons ``0..n`` in chunks of about :data:`CHUNK_STEPS` neuron
    steps, which the calling thread and up to ``torch.get_num_threads() - 1`` pool threads take in turn; returns
    the results in chunk order.

    Taking chunks as they come balances the threads when one of them shares its core (e.g. with a torch worker
    still spinning after the previous op), and the chunks do not depend on the thread count, so neither do the
    results.
    """
    chunk = -(-max(BLOCK, CHUNK_STEPS // T) // BLOCK) * BLOCK
    ranges = [(start, min(start + chunk, n)) for start in range(0, n, chunk)]
    results: list[Any] = [None] * len(ranges)
    todo = iter(enumerate(ranges))  # shared: each next() hands a chunk to exactly one thread

    def work() -> None:
        for i, (start, stop) in todo:
            results[i] = kernel(*args, start, stop)

    threads = torch.get_num_threads()
    helpers = min(threads, len(ranges)) - 1
    futures = [_pool(threads - 1).submit(work) for _ in range(helpers)]
    try:
        work()
    finally:
        for f in futures:
            f.result()
    return results


def _array(t: torch.Tensor | None, empty: np.ndarray = _EMPTY_SEQ) -> np.ndarray:
    """The fp32 tensor ``t`` as an array sharing its memory (``empty`` for ``None``)."""
    return empty if t is None else t.detach().numpy()


class MultiStep(torch.autograd.Function):
    """``(x_seq [T, N], v [N], theta 0-dim or None)`` fp32 contiguous → ``(s_seq, v_last, v_seq or None)``."""

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
        T, N = x_seq.shape
        theta_val = np.float32(theta.item() if theta is not None else theta_val)
        s_seq = torch.empty_like(x_seq)
        v_last = torch.empty_like(v)
        v_seq = torch.empty_like(x_seq) if store_v_seq else None
        inputs = (_array(x_seq), _array(v), theta_val, dyn.v_reset is None)
        _run(forward_kernel(dyn), N, T, *inputs, _array(s_seq), _array(v_seq), _array(v_last))
        if needs_grad:
            ctx.set_materialize_grads(False)
            ctx.dyn, ctx.theta_val = dyn, theta_val
            ctx.save_for_backward(x_seq, v, theta)
        return s_seq, v_last, v_seq

    @staticmethod
    def backward(
        ctx: Any, grad_s: torch.Tensor | None, grad_v_last: torch.Tensor | None, grad_v_seq: torch.Tensor | None
    ) -> tuple[torch.Tensor | None, ...]:
        x_seq, v, theta = ctx.saved_tensors
        T, N = x_seq.shape
        grad_x = torch.empty_like(x_seq)
        grad_v = torch.empty_like(v)
        grad_s, grad_v_seq, grad_v_last = (
            None if g is None else g.contiguous() for g in (grad_s, grad_v_seq, grad_v_last)
        )
        grads_in = (_array(grad_s), _array(grad_v_seq), _array(grad_v_last, _EMPTY_STATE))
        theta_grad = theta is not None and ctx.needs_input_grad[2]
        flags = (ctx.dyn.v_reset is None, ctx.dyn.detach_reset, theta_grad)
        kernel = backward_kernel(ctx.dyn)
        theta_sums = _run(
            kernel, N, T, *grads_in, _array(x_seq), _array(v), ctx.theta_val, *flags, _array(grad_x), _array(grad_v)
        )
        grad_theta = torch.tensor(sum(theta_sums), dtype=theta.dtype).reshape(theta.shape) if theta_grad else None
        return grad_x, grad_v, grad_theta, None, None, None, None


def multi_step(
    dyn: NeuronDynamics,
    x_seq: torch.Tensor,
    v: torch.Tensor | float,
    theta: torch.Tensor | float | None,
    store_v_seq: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Run ``T`` steps on the CPU; returns ``(s_seq, v_last, v_seq or None)`` like the torch backend.

    ``v`` may be a Python float or any tensor broadcastable to one step; ``theta`` a float, a 0-dim tensor
    (learnable) or ``None`` for IF.  fp16/bf16 inputs are computed in fp32 (like the CUDA kernels) and the
    outputs rounded back; non-contiguous inputs are copied to contiguous ones first.
    """
    if x_seq.numel() == 0:
        return torch_backend.multi_step(dyn, x_seq, v, theta, store_v_seq)
    shape, dtype = x_seq.shape, x_seq.dtype
    x = x_seq.reshape(shape[0], -1).float().contiguous()
    if isinstance(v, torch.Tensor):
        v = v.float().expand(shape[1:]).reshape(-1).contiguous()
    else:
        v = torch.full((x.shape[1],), float(v), dtype=torch.float32)
    theta_t = theta.float() if isinstance(theta, torch.Tensor) else None
    theta_val = 0.0 if theta is None or theta_t is not None else float(theta)
    needs_grad = torch_backend.needs_grad(x, v, theta_t)
    s_seq, v_last, v_seq = MultiStep.apply(x, v, theta_t, theta_val, dyn, store_v_seq, needs_grad)
    v_seq = None if v_seq is None else v_seq.to(dtype).view(shape)
    return s_seq.to(dtype).view(shape), v_last.to(dtype).view(shape[1:]), v_seq

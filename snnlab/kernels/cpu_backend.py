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
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch
from numba.core.errors import NumbaError
from torch import Tensor

from snnlab.kernels import torch_backend
from snnlab.kernels.cpu_codegen import BLOCK, KernelModule, Signature, backward_module, forward_module
from snnlab.kernels.fused_args import FusedArgs, no_grad, output_grads, wanted_grads
from snnlab.math.dynamics import NeuronDynamics

CHUNK_STEPS = 1 << 18
"""Neuron steps (``T × neurons``) per unit of work handed to a thread (at least one block of neurons)."""

_EMPTY = {"seq?": np.empty((0, 0), np.float32), "vec?": np.empty(0, np.float32)}


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
def backward_kernel(dyn: NeuronDynamics) -> Callable[..., None]:
    """The compiled ``backward`` of ``dyn`` (shared by its reset and ``detach_reset`` variants)."""
    return _load(backward_module(dyn)).backward


def _arguments(signature: Signature, values: dict[str, Any]) -> list[Any]:
    """The kernel's arguments but ``start, stop`` from ``values`` by name (absent optional arrays empty)."""
    args = []
    for name, kind in signature[:-2]:
        value = values.get(name)
        if isinstance(value, torch.Tensor):
            value = value.detach().numpy()
        args.append(_EMPTY[kind] if value is None else np.float32(value) if kind == "f32" else value)
    return args


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
    dummies = {"seq": np.zeros((1, 1), np.float32), "vec": np.zeros(1, np.float32), "f32": 0.0, "bool": False}
    try:  # compile for the argument types of every later call
        fn = module.forward if hasattr(module, "forward") else module.backward
        fn(*_arguments(kernel.signature, {name: dummies.get(kind) for name, kind in kernel.signature}), 0, 1)
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


def _run(kernel: Callable[..., Any], n: int, T: int, *args: Any) -> None:
    """``kernel(*args, start, stop)`` over the neurons ``0..n`` in chunks of about :data:`CHUNK_STEPS` neuron
    steps, which the calling thread and up to ``torch.get_num_threads() - 1`` pool threads take in turn.

    Taking chunks as they come balances the threads when one of them shares its core (e.g. with a torch worker
    still spinning after the previous op), and the chunks do not depend on the thread count, so neither do the
    results.
    """
    chunk = -(-max(BLOCK, CHUNK_STEPS // T) // BLOCK) * BLOCK
    todo = iter(range(0, n, chunk))  # shared: each next() hands a chunk to exactly one thread

    def work() -> None:
        for start in todo:
            kernel(*args, start, min(start + chunk, n))

    threads = torch.get_num_threads()
    helpers = min(threads, -(-n // chunk)) - 1
    futures = [_pool(threads - 1).submit(work) for _ in range(helpers)]
    try:
        work()
    finally:
        for f in futures:
            f.result()


def _total(grad: torch.Tensor) -> torch.Tensor:
    """The sum of a parameter's per-element gradients, in fp64 and independent of the thread count."""
    return torch.tensor(np.sum(grad.numpy(), dtype=np.float64))


@torch.library.custom_op("snnlab::cpu_multi_step", mutates_args=())
def forward_op(
    dynamics: str,
    x_seq: Tensor,
    states: list[Tensor],
    tensors: list[Tensor],
    fixed: list[float],
    is_tensor: list[bool],
    store_v_seq: bool,
) -> list[Tensor]:
    """The forward of the declaration keyed ``dynamics`` on ``x_seq [T, N]`` and ``states [N]``, fp32 contiguous,
    with parameters as :meth:`FusedArgs.op_args` gives them: ``[s_seq, *last states, v_seq if store_v_seq]``."""
    args, tensors = FusedArgs.of_op(dynamics, x_seq, tensors, fixed, is_tensor)
    dyn = args.dyn
    T, N = x_seq.shape
    s_seq = torch.empty_like(x_seq)
    last = [torch.empty_like(s) for s in states]
    v_seq = torch.empty_like(x_seq) if store_v_seq else None
    values = {**args.values(states, tensors, host=True), "x_seq": x_seq, "soft": dyn.v_reset is None}
    values |= args.output_values(s_seq, v_seq, last)
    _run(forward_kernel(dyn), N, T, *_arguments(forward_module(dyn).signature, values))
    return [s_seq, *last, *([v_seq] if store_v_seq else [])]


@forward_op.register_fake
def _forward_fake(
    dynamics: str,
    x_seq: Tensor,
    states: list[Tensor],
    tensors: list[Tensor],
    fixed: list[float],
    is_tensor: list[bool],
    store_v_seq: bool,
) -> list[Tensor]:
    return [
        torch.empty_like(x_seq),
        *map(torch.empty_like, states),
        *([torch.empty_like(x_seq)] if store_v_seq else []),
    ]


@torch.library.custom_op("snnlab::cpu_multi_step_backward", mutates_args=())
def backward_op(
    dynamics: str,
    x_seq: Tensor,
    states: list[Tensor],
    tensors: list[Tensor],
    fixed: list[float],
    is_tensor: list[bool],
    grad_s: Tensor | None,
    grad_v_seq: Tensor | None,
    grad_last: list[Tensor | None],
    wanted: list[bool],
) -> list[Tensor]:
    """Backpropagation through :func:`forward_op` (``None`` gradients: zero): ``[grad x_seq, *grad states, *grad
    of each parameter tensor that is wanted]``."""
    args, tensors = FusedArgs.of_op(dynamics, x_seq, tensors, fixed, is_tensor)
    dyn = args.dyn
    T, N = x_seq.shape
    grad_x = torch.empty_like(x_seq)
    grad_init = [torch.empty_like(s) for s in states]
    want = iter(wanted)
    grad_p = [torch.empty(N) if t is not None and next(want) else None for t in tensors]
    values = {**args.values(states, tensors, host=True), "x_seq": x_seq, "grad_x_seq": grad_x}
    values |= {"soft": dyn.v_reset is None, "detach": dyn.detach_reset}
    values |= args.grad_values(grad_s, grad_v_seq, grad_last, grad_init, grad_p)
    _run(backward_kernel(dyn), N, T, *_arguments(backward_module(dyn).signature, values))
    return [grad_x, *grad_init, *(g for g in args.param_grads(grad_p, tensors, _total) if g is not None)]


@backward_op.register_fake
def _backward_fake(
    dynamics: str,
    x_seq: Tensor,
    states: list[Tensor],
    tensors: list[Tensor],
    fixed: list[float],
    is_tensor: list[bool],
    grad_s: Tensor | None,
    grad_v_seq: Tensor | None,
    grad_last: list[Tensor | None],
    wanted: list[bool],
) -> list[Tensor]:
    grad_p = [torch.empty_like(t) for t, w in zip(tensors, wanted) if w]
    return [torch.empty_like(x_seq), *map(torch.empty_like, states), *grad_p]


def _setup_context(ctx: Any, inputs: tuple[Any, ...], output: list[Tensor]) -> None:
    dynamics, x_seq, states, tensors, fixed, is_tensor, store_v_seq = inputs
    ctx.set_materialize_grads(False)
    ctx.op_args, ctx.n_states, ctx.store_v_seq = (dynamics, fixed, is_tensor), len(states), store_v_seq
    ctx.save_for_backward(x_seq, *states, *tensors)


def _backward(ctx: Any, grads: list[Tensor | None]) -> tuple[Any, ...]:
    dynamics, fixed, is_tensor = ctx.op_args
    n = ctx.n_states
    x_seq, *saved = ctx.saved_tensors
    states, tensors = saved[:n], saved[n:]
    grad_s, grad_last, grad_v_seq = output_grads(grads, n, ctx.store_v_seq)
    wanted = list(ctx.needs_input_grad[3])
    grad_x, *rest = backward_op(
        dynamics, x_seq, states, tensors, fixed, is_tensor, grad_s, grad_v_seq, grad_last, wanted
    )
    grad_p = wanted_grads(wanted, rest[n:])
    return None, grad_x, rest[:n], grad_p, no_grad(fixed), no_grad(is_tensor), None


forward_op.register_autograd(_backward, setup_context=_setup_context)


def multi_step(
    dyn: NeuronDynamics,
    x_seq: torch.Tensor,
    states: Sequence[torch.Tensor | float],
    params: Sequence[Any],
    store_v_seq: bool,
) -> tuple[torch.Tensor, tuple[torch.Tensor, ...], torch.Tensor | None]:
    """Run ``T`` steps on the CPU; returns ``(s_seq, last states, v_seq or None)`` like the torch backend.

    States may be Python floats or tensors broadcastable to one step; parameters floats, 0-dim tensors or
    ``[C]`` tensors per channel.  fp16/bf16 inputs are computed in fp32 (like the CUDA kernels) and the outputs
    rounded back; non-contiguous inputs are copied to contiguous ones first.
    """
    if x_seq.numel() == 0:
        return torch_backend.multi_step(dyn, x_seq, states, params, store_v_seq)
    args, x, states, tensors = FusedArgs.prepare(dyn, x_seq, states, params, torch.float32)
    key, given, fixed, is_tensor = args.op_args(tensors)
    s_seq, *last = forward_op(key, x, states, given, fixed, is_tensor, store_v_seq)
    v_seq = last.pop() if store_v_seq else None
    return args.outputs(s_seq, v_seq, last)

"""Benchmark multi-step LIF neurons: snnlab's fused backends (``cpu`` on a CPU, ``cupy`` on a GPU) against its
``torch`` reference loop and, when installed, SpikingJelly's ``LIFNode`` (its torch path on a CPU, its GPU
backends on a GPU), forward and forward+backward, against the device's copy bandwidth.

    python scripts/bench_neurons.py --device cpu --out bench_neurons_cpu.json   # T ∈ {4, 8, 32}, fp32
    python scripts/bench_neurons.py --out bench_neurons.json                     # GPU: T ∈ {4..64}, 3 dtypes
    python scripts/bench_neurons.py -T 8 32 --dtypes bf16 --shapes flat --iters 50

The backends take turns in every round (one call each, ``--iters`` rounds after ``--warmup``), so a change of
machine load hits all of them alike; the median is reported.  Bandwidth is the minimal traffic of the fused
kernels divided by the time: inference forward reads x and writes s (``2·T·N`` elements); training also writes
h (fp32) forward and reads grad_s and h and writes grad_x backward (``T·N·(4·e + 8)`` bytes for element size
``e``).  The same byte count is used for every backend, so the GB/s column compares speed at equal work.  On a
CPU the script also times torch ops (a conv and an elementwise op) right after each backend's forward, to show
that the fused kernel's threads leave the cores to torch's thread pool.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

SHAPES = {
    "cuda": {"conv": (64, 128, 32, 32), "flat": (64, 65536)},
    "cpu": {"conv": (32, 32, 32, 32), "flat": (64, 16384)},  # 2^20 neurons: T=8 gives 8.4M elements
}
STEPS = {"cuda": [4, 8, 16, 32, 64], "cpu": [4, 8, 32]}
BACKENDS = {"cuda": ["cupy", "torch", "spikingjelly"], "cpu": ["cpu", "torch", "spikingjelly"]}
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("-T", "--steps", type=int, nargs="+", help="time steps (default: per device)")
    p.add_argument("--shapes", nargs="+", choices=["conv", "flat"], default=["conv", "flat"], help="[B, ...] per step")
    p.add_argument("--dtypes", nargs="+", choices=DTYPES, help="default: fp32 on a CPU, all on a GPU")
    p.add_argument("--backends", nargs="+", choices=["cpu", "cupy", "torch", "spikingjelly"])
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--iters", type=int, default=10, help="timed rounds (the median is reported)")
    p.add_argument("--out", default="bench_neurons.json", help="JSON results file")
    args = p.parse_args()
    args.steps = args.steps or STEPS[args.device]
    args.dtypes = args.dtypes or (["fp32"] if args.device == "cpu" else list(DTYPES))
    args.backends = args.backends or BACKENDS[args.device]
    return args


class Clock:
    """Wall time of a call on ``device``: CUDA events on the current stream, else ``perf_counter``."""

    def __init__(self, device: str) -> None:
        self.cuda = device == "cuda"

    def ms(self, fn: Callable[[], Any]) -> float:
        if not self.cuda:
            start = time.perf_counter()
            fn()
            return 1e3 * (time.perf_counter() - start)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end)


def alternating_medians(fns: dict[str, Callable[[], Any]], clock: Clock, warmup: int, iters: int) -> dict[str, float]:
    """Median ms of each function, timed in ``iters`` rounds that call every function once."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(iters):
        for k, fn in fns.items():
            times[k].append(clock.ms(fn))
    return {k: statistics.median(v) for k, v in times.items()}


def copy_bandwidth(device: str, clock: Clock, warmup: int, iters: int) -> float:
    """Copy bandwidth in GB/s (read + write) of a 1 GiB (GPU) or 256 MiB (CPU) fp32 tensor."""
    src = torch.empty(2**28 if device == "cuda" else 2**26, dtype=torch.float32, device=device)
    dst = torch.empty_like(src)
    ms = alternating_medians({"copy": lambda: dst.copy_(src)}, clock, warmup, iters)["copy"]
    return 2 * src.numel() * 4 / ms / 1e6


def make_nodes(backend: str, device: str) -> dict[str, torch.nn.Module]:
    """LIF(τ=2, hard reset, decay_input, sigmoid α=4) modules in step mode ``m`` for ``backend``, by label."""
    if backend != "spikingjelly":
        from snnlab.neurons import LIF

        return {backend: LIF(tau=2.0, step_mode="m", backend=backend)}
    try:
        from spikingjelly.activation_based import neuron, surrogate
    except ImportError:
        return {}
    has_backends = "backend" in inspect.signature(neuron.LIFNode).parameters  # SpikingJelly < 2.0
    wanted = ["torch"] if device == "cpu" else ["cupy", "triton"]
    nodes = {}
    for sj_backend in wanted:
        kwargs = {"backend": sj_backend} if has_backends else {}
        if has_backends and sj_backend not in neuron.LIFNode(step_mode="m").supported_backends:
            continue
        if not has_backends and sj_backend != "torch":
            continue
        sg = surrogate.Sigmoid(alpha=4.0)
        nodes[f"sj-{sj_backend}"] = neuron.LIFNode(tau=2.0, step_mode="m", surrogate_function=sg, **kwargs)
    return nodes


def node_calls(node: torch.nn.Module, x: torch.Tensor) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """``(forward, forward+backward)`` calls; the forward runs without autograd."""
    grad = torch.ones_like(x)
    x_grad = x.detach().requires_grad_()

    def forward() -> None:
        node.reset()
        with torch.no_grad():
            node(x)

    def train() -> None:  # the input gradient is returned, not accumulated into x_grad.grad
        node.reset()
        torch.autograd.grad(node(x_grad), x_grad, grad)

    return forward, train


def torch_ops_after(
    nodes: dict[str, torch.nn.Module], x: torch.Tensor, clock: Clock, warmup: int, iters: int
) -> dict[str, dict[str, float]]:
    """Median ms of a conv and an elementwise torch op run right after each node's forward (``idle``: after a
    pause instead), alternating; equal times mean the neuron kernels leave no threads competing with torch's."""
    image = torch.randn(32, 64, 32, 32)
    weight = torch.randn(64, 64, 3, 3)
    ops = {"conv3x3": lambda: F.conv2d(image, weight, padding=1), "mul_add": lambda: x.mul(2.0).add_(1.0)}
    prefixes = {label: node_calls(node, x)[0] for label, node in nodes.items()} | {"idle": lambda: time.sleep(0.02)}
    times: dict[str, dict[str, list[float]]] = {p: {o: [] for o in ops} for p in prefixes}
    for round_ in range(warmup + iters):
        for p, before in prefixes.items():
            for o, op in ops.items():
                before()
                t = clock.ms(op)
                if round_ >= warmup:
                    times[p][o].append(t)
    return {p: {o: statistics.median(v) for o, v in d.items()} for p, d in times.items()}


def cpu_name() -> str:
    """The CPU's model name (from ``/proc/cpuinfo`` on Linux) and core count."""
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            name = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{name} ({os.cpu_count()} logical CPUs)"


def main() -> None:
    args = parse_args()
    device, clock = args.device, Clock(args.device)
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda needs a CUDA GPU (torch.cuda.is_available() is False)")
    if device == "cuda" and "cupy" in args.backends:
        from snnlab.kernels import CUPY_HINT, cupy_import_error

        if (reason := cupy_import_error()) is not None:
            raise SystemExit(f"the cupy backend is unavailable: {reason}; {CUPY_HINT} (or pass --backends torch)")
    load_before = os.getloadavg()
    copy_gbs = copy_bandwidth(device, clock, args.warmup, args.iters)
    rows: list[dict[str, Any]] = []
    for shape_name in args.shapes:
        for dtype_name in args.dtypes:
            dtype = DTYPES[dtype_name]
            for T in args.steps:
                x = (torch.randn(T, *SHAPES[device][shape_name], device=device) + 0.5).to(dtype)
                elem, numel = x.element_size(), x.numel()
                fwd_bytes, train_bytes = 2 * numel * elem, numel * (4 * elem + 8)
                nodes = {
                    k: v.to(device=device, dtype=dtype) for b in args.backends for k, v in make_nodes(b, device).items()
                }
                calls = {label: node_calls(node, x) for label, node in nodes.items()}
                for label, (_, train_call) in list(calls.items()):
                    try:
                        train_call()
                    except (RuntimeError, torch.cuda.OutOfMemoryError) as e:  # e.g. out of memory at large T
                        shape = [T, *SHAPES[device][shape_name]]
                        rows.append(
                            {"shape": shape, "dtype": dtype_name, "backend": label, "error": str(e).splitlines()[0]}
                        )
                        del calls[label], nodes[label]
                fwd = alternating_medians({k: c[0] for k, c in calls.items()}, clock, args.warmup, args.iters)
                train = alternating_medians({k: c[1] for k, c in calls.items()}, clock, args.warmup, args.iters)
                for label in nodes:
                    fwd_gbs, train_gbs = fwd_bytes / fwd[label] / 1e6, train_bytes / train[label] / 1e6
                    rows.append({"shape": [T, *SHAPES[device][shape_name]], "dtype": dtype_name, "backend": label,
                                 "fwd_ms": fwd[label], "fwd_gbs": fwd_gbs, "fwd_pct_copy": 100 * fwd_gbs / copy_gbs,
                                 "train_ms": train[label], "train_gbs": train_gbs,
                                 "train_pct_copy": 100 * train_gbs / copy_gbs})  # fmt: skip
                del x
                if device == "cuda":
                    torch.cuda.empty_cache()
    interference = None
    if device == "cpu":
        x = torch.randn(8, *SHAPES["cpu"]["conv"]) + 0.5
        nodes = {k: v for b in args.backends for k, v in make_nodes(b, device).items()}
        interference = torch_ops_after(nodes, x, clock, args.warmup, args.iters)
    name = torch.cuda.get_device_name() if device == "cuda" else cpu_name()
    info = {"device": name, "threads": torch.get_num_threads(), "copy_gbs": copy_gbs, "torch": torch.__version__,
            "load_before": load_before, "load_after": os.getloadavg()}  # fmt: skip
    print_table(rows, info)
    if interference is not None:
        print("torch ops timed right after each forward (median ms):")
        for prefix, ops in interference.items():
            print(f"  after {prefix:10s} " + "  ".join(f"{o} {ms:7.2f}" for o, ms in ops.items()))
    with open(args.out, "w") as f:
        json.dump({**info, "results": rows, "torch_ops_after": interference}, f, indent=1)
    print(f"wrote {args.out}")


def print_table(rows: list[dict[str, Any]], info: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    title = (
        f"multi-step LIF on {info['device']}, {info['threads']} threads (copy bandwidth {info['copy_gbs']:.0f} GB/s; "
        f"load {info['load_before'][0]:.2f} before, {info['load_after'][0]:.2f} after)"
    )
    table = Table(title=title)
    cols = ("shape", "dtype", "backend", "fwd ms", "fwd GB/s", "fwd %copy", "f+b ms", "f+b GB/s", "f+b %copy", "f+b ×")
    for col in cols:
        table.add_column(col, justify="left" if col in ("shape", "dtype", "backend") else "right")
    slowest: dict[tuple[Any, ...], float] = {}
    for r in rows:
        key = (tuple(r["shape"]), r["dtype"])
        slowest[key] = max(slowest.get(key, 0.0), r.get("train_ms", 0.0))
    for r in rows:
        if "error" in r:
            table.add_row("x".join(map(str, r["shape"])), r["dtype"], r["backend"], f"[red]{r['error']}[/red]")
            continue
        table.add_row("x".join(map(str, r["shape"])), r["dtype"], r["backend"], f"{r['fwd_ms']:.2f}",
                      f"{r['fwd_gbs']:.1f}", f"{r['fwd_pct_copy']:.0f}%", f"{r['train_ms']:.2f}",
                      f"{r['train_gbs']:.1f}", f"{r['train_pct_copy']:.0f}%",
                      f"{slowest[(tuple(r['shape']), r['dtype'])] / r['train_ms']:.1f}")  # fmt: skip
    Console(width=200).print(table)
    print("f+b ×: speed-up of forward+backward over the slowest backend of the same shape and dtype")


if __name__ == "__main__":
    main()

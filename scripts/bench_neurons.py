"""Benchmark multi-step LIF neurons: snnlab's cupy and torch backends (and SpikingJelly's GPU backends when
installed), forward and forward+backward, against the device's copy bandwidth.

    python scripts/bench_neurons.py --out bench_neurons.json
    python scripts/bench_neurons.py -T 8 32 --dtypes bf16 --shapes flat --iters 50

Bandwidth is the minimal traffic of the fused kernels divided by the time: inference forward reads x and
writes s (``2·T·N`` elements); training also writes h (fp32) forward and reads grad_s and h and writes grad_x
backward (``T·N·(4·e + 8)`` bytes for element size ``e``).  The same byte count is used for every backend, so
the GB/s column compares speed at equal work.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Callable
from typing import Any

import torch

SHAPES = {"conv": (64, 128, 32, 32), "flat": (64, 65536)}
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-T", "--steps", type=int, nargs="+", default=[4, 8, 16, 32, 64], help="time steps")
    p.add_argument("--shapes", nargs="+", choices=SHAPES, default=list(SHAPES), help="per-step shapes [B, ...]")
    p.add_argument("--dtypes", nargs="+", choices=DTYPES, default=list(DTYPES))
    p.add_argument("--backends", nargs="+", default=["cupy", "torch", "spikingjelly"],
                   choices=["cupy", "torch", "spikingjelly"])  # fmt: skip
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--iters", type=int, default=30, help="timed repetitions (the median is reported)")
    p.add_argument("--out", default="bench_neurons.json", help="JSON results file")
    return p.parse_args()


def median_ms(fn: Callable[[], Any], warmup: int, iters: int) -> float:
    """Median wall time of ``fn`` on the current stream, by CUDA events."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def copy_bandwidth(warmup: int, iters: int) -> float:
    """Device-to-device copy bandwidth in GB/s (read + write) of a 1 GiB tensor."""
    src = torch.empty(2**28, dtype=torch.float32, device="cuda")
    dst = torch.empty_like(src)
    ms = median_ms(lambda: dst.copy_(src), warmup, iters)
    return 2 * src.numel() * 4 / ms / 1e6


def make_nodes(backend: str) -> dict[str, torch.nn.Module]:
    """LIF(τ=2, hard reset, decay_input) modules in step mode ``m`` for ``backend``, by label."""
    if backend != "spikingjelly":
        from snnlab.neurons import LIF

        return {backend: LIF(tau=2.0, step_mode="m", backend=backend)}
    try:
        from spikingjelly.activation_based import neuron, surrogate
    except ImportError:
        return {}
    nodes = {}
    for sj_backend in ("cupy", "triton"):
        probe = neuron.LIFNode(step_mode="m")
        if sj_backend in probe.supported_backends:
            nodes[f"sj-{sj_backend}"] = neuron.LIFNode(
                tau=2.0, step_mode="m", backend=sj_backend, surrogate_function=surrogate.Sigmoid(alpha=4.0)
            )
    return nodes


def bench_node(node: torch.nn.Module, x: torch.Tensor, warmup: int, iters: int) -> tuple[float, float]:
    """``(forward ms, forward+backward ms)``; the forward runs without autograd."""
    grad = torch.ones_like(x)
    x_grad = x.detach().requires_grad_()

    def forward() -> None:
        node.reset()
        with torch.no_grad():
            node(x)

    def train() -> None:
        node.reset()
        node(x_grad).backward(grad)

    return median_ms(forward, warmup, iters), median_ms(train, warmup, iters)


def main() -> None:
    args = parse_args()
    if not torch.cuda.is_available():
        sys.exit("bench_neurons.py needs a CUDA GPU (torch.cuda.is_available() is False)")
    if "cupy" in args.backends:
        from snnlab.kernels import CUPY_HINT, cupy_import_error

        if (reason := cupy_import_error()) is not None:
            sys.exit(f"the cupy backend is unavailable: {reason}; {CUPY_HINT} (or pass --backends torch)")
    copy_gbs = copy_bandwidth(args.warmup, args.iters)
    rows: list[dict[str, Any]] = []
    for shape_name in args.shapes:
        for dtype_name in args.dtypes:
            dtype = DTYPES[dtype_name]
            for T in args.steps:
                x = (torch.randn(T, *SHAPES[shape_name], device="cuda") + 0.5).to(dtype)
                elem, numel = x.element_size(), x.numel()
                fwd_bytes, train_bytes = 2 * numel * elem, numel * (4 * elem + 8)
                for backend in args.backends:
                    for label, node in make_nodes(backend).items():
                        node = node.to(device="cuda", dtype=dtype)
                        row = {"shape": [T, *SHAPES[shape_name]], "dtype": dtype_name, "backend": label}
                        try:
                            fwd_ms, train_ms = bench_node(node, x, args.warmup, args.iters)
                        except (RuntimeError, torch.cuda.OutOfMemoryError) as e:
                            rows.append({**row, "error": str(e).splitlines()[0]})
                            torch.cuda.empty_cache()
                            continue
                        fwd_gbs, train_gbs = fwd_bytes / fwd_ms / 1e6, train_bytes / train_ms / 1e6
                        rows.append({**row, "fwd_ms": fwd_ms, "fwd_gbs": fwd_gbs,
                                     "fwd_pct_copy": 100 * fwd_gbs / copy_gbs, "train_ms": train_ms,
                                     "train_gbs": train_gbs, "train_pct_copy": 100 * train_gbs / copy_gbs})  # fmt: skip
                del x
                torch.cuda.empty_cache()
    device = torch.cuda.get_device_name()
    print_table(rows, device, copy_gbs)
    with open(args.out, "w") as f:
        json.dump({"device": device, "copy_gbs": copy_gbs, "torch": torch.__version__, "results": rows}, f, indent=1)
    print(f"wrote {args.out}")


def print_table(rows: list[dict[str, Any]], device: str, copy_gbs: float) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"multi-step LIF on {device} (copy bandwidth {copy_gbs:.0f} GB/s)")
    for col in ("shape", "dtype", "backend", "fwd ms", "fwd GB/s", "fwd %copy", "f+b ms", "f+b GB/s", "f+b %copy"):
        table.add_column(col, justify="left" if col in ("shape", "dtype", "backend") else "right")
    for r in rows:
        head = ("x".join(map(str, r["shape"])), r["dtype"], r["backend"])
        if "error" in r:
            table.add_row(*head, f"[red]{r['error']}[/red]", *[""] * 5)
            continue
        table.add_row(*head, f"{r['fwd_ms']:.3f}", f"{r['fwd_gbs']:.0f}", f"{r['fwd_pct_copy']:.0f}%",
                      f"{r['train_ms']:.3f}", f"{r['train_gbs']:.0f}", f"{r['train_pct_copy']:.0f}%")  # fmt: skip
    Console().print(table)


if __name__ == "__main__":
    main()

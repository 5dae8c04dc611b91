"""CPU time of one training step of the default model (cnn + LIF + BN, T=4, batch 64, MNIST-sized frames), eager
against ``torch.compile``d, alternated in one process; prints a table and writes JSON.

    python scripts/bench_compile.py [--repeats 5] [--steps 10] [--out bench_compile.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

from snnlab.conf import CONFIG_DIR
from snnlab.functional import reset_net
from snnlab.training.run.build import build_model


def _model() -> torch.nn.Module:
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train")
    torch.manual_seed(0)
    return build_model(cfg, (1, 28, 28), 10)


def _steps(net: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, n: int) -> float:
    """Seconds per training step over ``n`` steps."""
    start = time.perf_counter()
    for _ in range(n):
        reset_net(net)
        loss = torch.nn.functional.cross_entropy(net(x).mean(0), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return (time.perf_counter() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--out", type=Path, default=Path("bench_compile.json"))
    args = parser.parse_args()
    x, y = torch.rand(4, args.batch, 1, 28, 28), torch.randint(0, 10, (args.batch,))
    nets = {"eager": _model(), "compiled": _model()}
    nets["compiled"].compile(dynamic=False)
    opts = {k: torch.optim.Adam(n.parameters(), 1e-3) for k, n in nets.items()}
    start = time.perf_counter()
    _steps(nets["compiled"], opts["compiled"], x, y, 1)
    compile_s = time.perf_counter() - start
    _steps(nets["eager"], opts["eager"], x, y, 2)  # warm-up
    times: dict[str, list[float]] = {"eager": [], "compiled": []}
    for _ in range(args.repeats):  # alternate, so that a change of load hits both
        for name in times:
            times[name].append(_steps(nets[name], opts[name], x, y, args.steps))
    best = {k: min(v) for k, v in times.items()}
    result = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "load_1min": os.getloadavg()[0],
        "batch": args.batch,
        "compile_s": compile_s,
        "step_ms": {k: [t * 1e3 for t in v] for k, v in times.items()},
        "speedup": best["eager"] / best["compiled"],
    }
    print(f"{'':10}{'best ms/step':>14}{'median ms/step':>16}")
    for name, ts in times.items():
        print(f"{name:10}{min(ts) * 1e3:14.1f}{sorted(ts)[len(ts) // 2] * 1e3:16.1f}")
    print(
        f"speed-up (eager / compiled, best): {result['speedup']:.2f}x; first compiled step {compile_s:.1f} s; "
        f"load {result['load_1min']:.2f} on {os.cpu_count()} cores"
    )
    args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

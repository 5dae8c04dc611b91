"""Benchmark a training step of a reduced-width Spikformer: snnlab's ``transformer`` against SpikingJelly 2.0's
``Spikformer`` at the same size, in one process, the two taking turns in every round.

    python scripts/bench_models.py                          # 2 blocks, dim 128, 32×32, T=4, batch 16, CPU
    python scripts/bench_models.py --device cuda --batch 64 --out bench_models_gpu.json
    python scripts/bench_models.py --dim 256 --depth 4 --iters 20

Both nets are SpikingJelly's variant of Spikformer (1×1-conv projections without biases, SPS with pools after
stages 3 and 4), with the papers' LIF (τ 2, hard reset, sigmoid surrogate α 4, detached reset) on each library's
own choice of neuron kernel for the device (snnlab: backend ``auto``; SpikingJelly 2.0: its ``lif_multi_step``).
A step is forward, cross-entropy of the time-averaged output, backward and an AdamW update, on fixed random
images; the median time of ``--iters`` rounds after ``--warmup`` gives samples/s.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from snnlab.functional import reset_net
from snnlab.math.surrogate import Sigmoid
from snnlab.models import BN, create_model
from snnlab.models.transformer import SPS, SSA
from snnlab.neurons import LIF


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--depth", type=int, default=2, help="transformer blocks")
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--size", type=int, default=32, help="input height and width")
    p.add_argument("-T", "--steps", type=int, default=4)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--out", default="bench_models.json")
    return p.parse_args()


def lif(**overrides: float) -> nn.Module:
    return LIF(tau=2.0, surrogate=Sigmoid(alpha=4.0), detach_reset=True, **overrides)


def ours(args: argparse.Namespace) -> nn.Module:
    return create_model(
        "transformer", input_shape=(3, args.size, args.size), num_classes=args.classes, make_neuron=lif,
        norm=BN(), stem=SPS(), token_mixer=SSA(order="kv"), dim=args.dim, depths=[args.depth], heads=args.heads,
        proj_bias=False, mlp_bias=False,
    )  # fmt: skip


def spikingjelly(args: argparse.Namespace) -> nn.Module:
    from spikingjelly.activation_based.model.spikformer import Spikformer

    return Spikformer(T=args.steps, img_size_h=args.size, img_size_w=args.size, patch_size=4, num_classes=args.classes,
                      embed_dims=args.dim, num_heads=args.heads, depths=args.depth)  # fmt: skip


def train_step(net: nn.Module, reset: Callable[[nn.Module], None], x: torch.Tensor, y: torch.Tensor,
               opt: torch.optim.Optimizer) -> Callable[[], None]:  # fmt: skip
    def step() -> None:
        reset(net)
        out = net(x)
        loss = F.cross_entropy(out.mean(0), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if x.is_cuda:
            torch.cuda.synchronize()

    return step


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    x = torch.rand(args.steps, args.batch, 3, args.size, args.size, device=device) * 2
    y = torch.randint(args.classes, (args.batch,), device=device)
    from spikingjelly.activation_based import functional as sj_functional

    nets = {"snnlab": ours(args).to(device), "spikingjelly": spikingjelly(args).to(device)}
    resets = {"snnlab": reset_net, "spikingjelly": sj_functional.reset_net}
    steps = {
        name: train_step(net, resets[name], x, y, torch.optim.AdamW(net.parameters(), lr=1e-4))
        for name, net in nets.items()
    }
    for _ in range(args.warmup):
        for step in steps.values():
            step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.iters):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(t) for name, t in times.items()}
    rate = {name: args.batch / m for name, m in medians.items()}
    ratio = rate["snnlab"] / rate["spikingjelly"]
    params = {name: sum(p.numel() for p in net.parameters()) for name, net in nets.items()}
    print(f"Spikformer {args.depth} blocks, dim {args.dim}, {args.size}x{args.size}, T={args.steps}, "
          f"batch {args.batch}, {args.device}, {torch.get_num_threads()} threads")  # fmt: skip
    print(f"{'library':<14}{'params':>10}{'ms/step':>10}{'samples/s':>11}")
    for name in steps:
        print(f"{name:<14}{params[name]:>10}{1e3 * medians[name]:>10.1f}{rate[name]:>11.1f}")
    print(f"snnlab / spikingjelly samples/s: {ratio:.2f}x")
    result = {
        "config": vars(args),
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "torch": torch.__version__,
                    "threads": torch.get_num_threads()},
        "ms_per_step": {k: 1e3 * v for k, v in medians.items()},
        "samples_per_s": rate,
        "params": params,
        "ratio": ratio,
    }  # fmt: skip
    Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

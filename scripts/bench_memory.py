"""Peak memory of one training step (forward, backward, optimizer step), BPTT vs OTTT, as T grows.

Both modes train the same network, OTTT's VGG (``model=ottt_vgg``, scaled by ``--width``), built from the run
configs: BPTT with a LIF of OTTT's dynamics (no input decay, soft reset, detached reset, sigmoid surrogate) in step
mode ``m``, OTTT with ``neuron=ottt_lif`` and ``learning=ottt`` (OTTT_A).  Each (mode, T) point runs in a fresh
Python process that fits one batch through ``lightning.Trainer``, so the step is exactly the training step and
nothing from another point stays allocated.

What is measured is what the process really holds: on CPU the peak resident set size during the step (Linux
``VmHWM``, reset to the current RSS right before the step via ``/proc/self/clear_refs``); on CUDA the allocator's
``max_memory_allocated``.  The table shows that peak and the part the step added on top of the process before it
(most of the rest is the ~1 GiB that importing torch and Lightning maps).  On CPU each point's process runs with
glibc's ``MALLOC_MMAP_THRESHOLD_=65536``: blocks above 64 KiB are mapped and unmapped one by one, so freed tensors
leave the RSS at once and the peak is the live memory, the same to within 1 MiB from run to run (with glibc's
default, heap caching moved the BPTT T=4 peak by some 600 MiB between identical runs).

    python scripts/bench_memory.py                      # T = 4 8 16 32, width 0.5, batch 128, CPU
    python scripts/bench_memory.py --json memory.json   # also writes {"bptt": {"4": bytes, ...}, "ottt": {...}}
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import os
import re
import subprocess
import sys
from functools import partial
from pathlib import Path

MODES = ("bptt", "ottt")
BPTT_NEURON = [
    "neuron=lif",
    "neuron.decay_input=false",
    "neuron.v_reset=null",
    "neuron.detach_reset=true",
    "neuron.surrogate={_target_: sigmoid, alpha: 4.0}",
]
OTTT_NEURON = ["neuron=ottt_lif", "learning=ottt"]


def _vm(field: str) -> int:
    """A ``/proc/self/status`` memory field in bytes."""
    match = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)
    if match is None:
        raise RuntimeError(f"/proc/self/status has no {field}; the CPU measurement needs Linux")
    return int(match.group(1)) * 1024


def _release_freed_memory() -> None:
    gc.collect()
    with contextlib.suppress(OSError):  # hand freed heap pages back, so the step's own pages show in RSS
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def measure_point(mode: str, T: int, width: float, batch_size: int, device: str, backend: str) -> dict[str, object]:
    """Fit one batch in this process; the peak memory of that training step."""
    import lightning
    import torch
    from hydra import compose, initialize_config_dir
    from torch.utils.data import DataLoader, TensorDataset

    from snnlab.conf import CONFIG_DIR
    from snnlab.encoders import DirectEncoder
    from snnlab.training import SNNClassifier
    from snnlab.training.run.build import build_learning, build_model

    overrides = [f"T={T}", "model=ottt_vgg", f"model.width_mult={width}", "norm=none", f"backend={backend}"]
    overrides += OTTT_NEURON if mode == "ottt" else [*BPTT_NEURON, "step_mode=m"]
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    torch.manual_seed(0)
    learning = build_learning(cfg)
    module = SNNClassifier(
        net=build_model(cfg, (3, 32, 32), 10, learning),
        encoder=DirectEncoder(T),
        num_classes=10,
        optimizer=partial(torch.optim.SGD, lr=0.01, momentum=0.9),
        step_mode=learning.step_mode(cfg.step_mode),
        learning=learning,
    )
    data = TensorDataset(torch.randn(batch_size, 3, 32, 32), torch.randint(0, 10, (batch_size,)))
    cuda = device == "cuda"

    class PeakMemory(lightning.Callback):
        def on_train_batch_start(self, *args: object) -> None:
            if cuda:
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
                self.before = torch.cuda.memory_allocated()
            else:
                _release_freed_memory()
                self.before = _vm("VmRSS")
                Path("/proc/self/clear_refs").write_text("5")  # VmHWM := current RSS

        def on_train_batch_end(self, *args: object) -> None:
            if cuda:
                torch.cuda.synchronize()
                self.peak = torch.cuda.max_memory_allocated()
            else:
                self.peak = _vm("VmHWM")

    probe = PeakMemory()
    trainer = lightning.Trainer(
        accelerator="gpu" if cuda else "cpu",
        devices=1,
        max_epochs=1,
        limit_train_batches=1,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[probe],
    )
    trainer.fit(module, DataLoader(data, batch_size=batch_size))
    return {"mode": mode, "T": T, "peak": probe.peak, "before": probe.before, "backend": cfg.backend}


def run_point(args: argparse.Namespace, mode: str, T: int) -> dict[str, object]:
    """:func:`measure_point` in a fresh Python process."""
    command = [sys.executable, __file__, "--point", mode, str(T), "--width", str(args.width)]
    command += ["--batch-size", str(args.batch_size), "--device", args.device, "--backend", args.backend]
    env = {"MALLOC_MMAP_THRESHOLD_": "65536", **os.environ}
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{mode} T={T} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict[str, dict[str, int]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--T", type=int, nargs="+", default=[4, 8, 16, 32], help="time steps (default 4 8 16 32)")
    parser.add_argument("--width", type=float, default=0.5, help="ottt_vgg width multiplier (default 0.5)")
    parser.add_argument("--batch-size", type=int, default=128, help="samples per batch (default 128)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where the step runs")
    parser.add_argument("--backend", default="torch", help="BPTT neuron backend (default torch, the reference loop)")
    parser.add_argument("--json", type=Path, help='write {"bptt": {"4": bytes, ...}, "ottt": {...}} here')
    parser.add_argument("--point", nargs=2, metavar=("MODE", "T"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.point:
        mode, T = args.point
        print(json.dumps(measure_point(mode, int(T), args.width, args.batch_size, args.device, args.backend)))
        return {}

    points = {mode: {T: run_point(args, mode, T) for T in args.T} for mode in MODES}
    mib = 2.0**20
    what = "peak RSS of a fresh process" if args.device == "cpu" else "CUDA max_memory_allocated"
    print(
        f"Peak memory of one training step, ottt_vgg (width {args.width:g}), batch {args.batch_size}, 3x32x32, "
        f"{args.device} ({what}); BPTT neuron backend {points['bptt'][args.T[0]]['backend']}"
    )
    print(f"{'T':>4} | {'BPTT peak MiB':>13} | {'BPTT step MiB':>13} | {'OTTT peak MiB':>13} | {'OTTT step MiB':>13}")
    for T in args.T:
        cells = []
        for mode in MODES:
            p = points[mode][T]
            cells += [f"{p['peak'] / mib:13.0f}", f"{(p['peak'] - p['before']) / mib:13.0f}"]
        print(f"{T:>4} | " + " | ".join(cells))
    first, last = args.T[0], args.T[-1]
    ratios = []
    for mode in MODES:
        a, b = points[mode][first], points[mode][last]
        step = (b["peak"] - b["before"]) / max(a["peak"] - a["before"], 1)
        ratios.append(f"{mode.upper()} x{b['peak'] / a['peak']:.2f} (step x{step:.2f})")
    print(f"T={last} / T={first}: " + ", ".join(ratios))
    result = {mode: {str(T): int(points[mode][T]["peak"]) for T in args.T} for mode in MODES}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()

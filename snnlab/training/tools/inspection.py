"""``python -m snnlab inspect <overrides> [--json]``: the configured network, built without any data file.

The data module is not instantiated: its registered class (or import path) gives the sample shape and the class
count (class attributes ``input_shape``/``num_classes``, or a ``sample_shape(**data_config)`` classmethod where
the shape depends on the config, as for event frames).  One forward pass of random input (batch 1, eval mode)
records each layer's output shape.  The sample transforms come from the data module built from the config (its
constructor reads no file).

The same pass, with the input the run would give the network (the encoder's output of one random image, or random
event frames), measures what of the papers' energy estimate (:mod:`snnlab.metrics.energy`) does not depend on
trained weights and real data: the first layer's MACs and the ACs if every input of the other layers spiked at
every step.  The estimate itself needs both; a run puts it in ``summary.json`` (``energy.paper_energy``) and
``snnlab eval`` prints it (``test/energy_mj``).
"""

from __future__ import annotations

import argparse
import json
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf
from torch import nn

from snnlab import data  # noqa: F401  (registers the data modules)
from snnlab.functional import reset_net
from snnlab.instantiate import check_keys, instantiate, target_path
from snnlab.layers import Identity
from snnlab.metrics import EnergyMeter
from snnlab.neurons.base import BaseNode
from snnlab.training.module.optimizers import build_optimizer
from snnlab.training.module.schedulers import epoch_end, total_epochs
from snnlab.training.run.build import build_model, check_expected_data, output_units


def data_spec(cfg: DictConfig) -> tuple[tuple[int, ...], int]:
    """``(input_shape, num_classes)`` of ``cfg.data``, from its class: no file is read, nothing is instantiated."""
    node = OmegaConf.to_container(cfg.data, resolve=True)
    cls = get_class(target_path(node.pop("_target_"), "data"))
    check_keys("data", node, cls)
    sample_shape = getattr(cls, "sample_shape", None)
    shape = sample_shape(**node) if sample_shape is not None else cls.input_shape
    return tuple(shape), int(cls.num_classes)


def data_transforms(cfg: DictConfig) -> dict[str, list[str]]:
    """The data module's per-sample ``train`` and ``eval`` (validation and test) transforms, one line each: the module
    is built from ``cfg.data`` (its values checked as in a run), which reads no data file."""
    return instantiate(cfg.data, kind="data").describe_transforms()


def _layers(module: nn.Module, prefix: str = "") -> Iterator[tuple[str, nn.Module]]:
    """The layers of ``module``: leaf modules and step-mode wrappers of torch layers (norms), depth first."""
    for name, child in module.named_children():
        full = f"{prefix}.{name}" if prefix else name
        if getattr(child, "wraps_torch_layers", False) or next(child.children(), None) is None:
            if not isinstance(child, Identity):
                yield full, child
        else:
            yield from _layers(child, full)


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def lr_schedule(cfg: DictConfig, net: nn.Module) -> dict[str, Any]:
    """``total_epochs`` of the run and ``lr_schedule``, the learning rate of each epoch (of the first parameter
    group; a per-update schedule's at the epoch's start): the configured scheduler stepped as in the run, on a
    throwaway optimizer over ``net``."""
    optimizer = build_optimizer(instantiate(cfg.optim), net)
    factory = instantiate(cfg.scheduler) if cfg.get("scheduler") else None
    epochs = total_epochs(factory, cfg.trainer.max_epochs)
    scheduler, rates = factory(optimizer) if factory is not None else None, []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # stepping a scheduler without optimizer steps
        for epoch in range(epochs):
            if epoch and scheduler is not None:
                epoch_end(scheduler, epoch)
            rates.append(optimizer.param_groups[0]["lr"])
    return {"total_epochs": epochs, "lr_schedule": rates}


@torch.no_grad()
def describe(cfg: DictConfig) -> dict[str, Any]:
    """Parameter count, input shape, ``T``, spiking layers and the layer table of ``cfg``'s network."""
    shape, num_classes = data_spec(cfg)
    check_expected_data(cfg, shape, num_classes)
    net = build_model(cfg, shape, num_classes).eval()
    step_mode = next((m.step_mode for m in net.modules() if hasattr(m, "step_mode")), "m")
    lead = 2 if step_mode == "m" else 1  # [T, B, ...] or [B, ...]
    rows: list[dict[str, Any]] = []
    shapes: dict[str, list[int]] = {}

    def record(name: str) -> Any:
        def hook(module: nn.Module, args: Any, out: Any) -> None:
            if isinstance(out, torch.Tensor):
                shapes[name] = list(out.shape[lead:])

        return hook

    found = list(_layers(net))
    handles = [m.register_forward_hook(record(name)) for name, m in found]
    x = network_input(cfg, shape)
    reset_net(net)
    with EnergyMeter(net) as meter:
        if step_mode == "m":
            net(x)
        else:
            for x_t in x:
                net(x_t)
        meter.add_samples(1)
    reset_net(net)
    for handle in handles:
        handle.remove()
    for name, m in found:
        rows.append({"name": name, "type": type(m).__name__, "output_shape": shapes.get(name), "params": _count(m)})
    return {
        "model": cfg.model._target_,
        "data": cfg.data._target_,
        "params": _count(net),
        "trainable_params": sum(p.numel() for p in net.parameters() if p.requires_grad),
        "input_shape": list(shape),
        "num_classes": num_classes,
        "output_units": output_units(num_classes, cfg.classifier),
        "T": int(cfg.T),
        "step_mode": step_mode,
        "spiking_layers": sum(isinstance(m, BaseNode) for m in net.modules()),
        **lr_schedule(cfg, net),
        "layers": rows,
        "transforms": data_transforms(cfg),
        "energy": architecture_energy(meter),
    }


def network_input(cfg: DictConfig, shape: tuple[int, ...]) -> torch.Tensor:
    """``[T, 1, *shape]``: random event frames for time-first data, else the encoder's output for a random image
    (direct coding: the same image at every step, as in a run)."""
    cls = get_class(target_path(OmegaConf.to_container(cfg.data, resolve=True)["_target_"], "data"))
    if getattr(cls, "time_first", False):
        return torch.rand(cfg.T, 1, *shape)
    return instantiate(cfg.encoder, kind="encoder")(torch.rand(1, *shape))


def architecture_energy(meter: EnergyMeter) -> dict[str, Any]:
    """The parts of the paper-style energy estimate that depend on the architecture only (one sample)."""
    paper = meter.paper_energy()
    keys = ("first_layer", "first_layer_macs", "first_layer_steps", "dense_acs", "dense_mj_per_sample")
    return {key: paper[key] for key in (*keys, "e_ac_pj", "e_mac_pj")}


def render(info: dict[str, Any]) -> str:
    """``describe``'s result as a text table and a summary."""
    header = ("#", "layer", "type", "output (per step and sample)", "params")
    table = [header] + [
        (str(i), r["name"], r["type"], "×".join(map(str, r["output_shape"] or ["?"])), f"{r['params']:,}")
        for i, r in enumerate(info["layers"])
    ]
    widths = [max(len(row[c]) for row in table) for c in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines += [
        "",
        f"model {info['model']} on data {info['data']}: input {tuple(info['input_shape'])} × T={info['T']} steps, "
        f"{info['num_classes']} classes ({info['output_units']} output units), step mode {info['step_mode']}",
        f"parameters: {info['params']:,} ({info['trainable_params']:,} trainable); "
        f"spiking layers: {info['spiking_layers']}",
        f"epochs: {info['total_epochs']}; learning rate {info['lr_schedule'][0]:.3g} → {info['lr_schedule'][-1]:.3g} "
        f"(lowest {min(info['lr_schedule']):.3g}, highest {max(info['lr_schedule']):.3g})",
        *(f"{split} transforms: {' → '.join(steps) or 'none'}" for split, steps in info["transforms"].items()),
        *energy_lines(info["energy"], info["T"]),
    ]
    return "\n".join(lines)


def energy_lines(energy: dict[str, Any], T: int) -> list[str]:
    """The architecture's share of the energy estimate, and where the measured one is."""
    if energy["first_layer"] is None:
        return []
    steps = energy["first_layer_steps"]
    when = "once: the same input at every step" if steps == 1 < T else f"at {steps:g} of {T} steps"
    return [
        f"energy (papers' convention, E_MAC {energy['e_mac_pj']} pJ, E_AC {energy['e_ac_pj']} pJ): first layer "
        f"{energy['first_layer']} {energy['first_layer_macs']:,.0f} MACs per sample ({when})",
        f"  with one spike per input and step in every later layer: {energy['dense_acs']:,.0f} ACs, "
        f"{energy['dense_mj_per_sample']:.4g} mJ per sample; measured (trained weights, test data): a run's "
        "summary.json (energy.paper_energy), snnlab eval RUN_DIR (test/energy_mj)",
    ]


def inspect_network(argv: Sequence[str] | None, config_dir: str | Path) -> dict[str, Any]:
    """Parse ``[overrides] [--json]``, compose the ``train`` config from ``config_dir`` and print the network."""
    parser = argparse.ArgumentParser(
        prog="python -m snnlab inspect", description="Build the configured network (no data files) and describe it."
    )
    parser.add_argument("overrides", nargs="*", help="config overrides, as for train.py (e.g. experiment=...)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args(argv)
    with initialize_config_dir(config_dir=str(Path(config_dir).resolve()), version_base="1.3"):
        cfg = compose("train", overrides=args.overrides)
    info = describe(cfg)
    print(json.dumps(info) if args.json else render(info))
    return info

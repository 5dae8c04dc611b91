"""The two things a user runs: :func:`train` (one Hydra job) and :func:`evaluate` (a finished run)."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import lightning
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig, OmegaConf

from snnlab.instantiate import instantiate, instantiate_dict
from snnlab.training.build import build
from snnlab.training.report import plot_curves, print_summary, write_summary
from snnlab.training.throughput import TrainThroughput


def _floats(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if not isinstance(v, torch.Tensor) or v.numel() == 1}


def train(cfg: DictConfig) -> float:
    """Seed, build (which checks every value), fit, test and report; returns ``cfg.optimized_metric``.

    Everything is written under ``cfg.paths.output_dir``.  ``cfg.ckpt_path`` resumes an interrupted run.
    """
    if cfg.seed is not None:
        lightning.seed_everything(cfg.seed, workers=True)
    datamodule, module = build(cfg)
    out_dir = Path(cfg.paths.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, out_dir / "config.yaml", resolve=True)
    throughput = TrainThroughput()
    callbacks = [*instantiate_dict(cfg.callbacks), throughput]
    loggers = instantiate_dict(cfg.logger)
    trainer: lightning.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)

    start = time.perf_counter()
    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    fit_metrics = _floats(trainer.callback_metrics)
    checkpoint = trainer.checkpoint_callback
    best = checkpoint.best_model_path if isinstance(checkpoint, ModelCheckpoint) else ""
    trainer.test(module, datamodule=datamodule, ckpt_path=best or None, verbose=False)
    wall = time.perf_counter() - start
    metrics = {**fit_metrics, **_floats(trainer.callback_metrics)}

    summary = {
        "test_acc": metrics.get("test/acc"),
        "test_loss": metrics.get("test/loss"),
        "best_val_acc": float(checkpoint.best_model_score) if best else metrics.get("val/acc"),
        "epochs": trainer.current_epoch,
        "params": sum(p.numel() for p in module.parameters()),
        "wall_time_s": wall,
        "train_samples_per_s": throughput.samples_per_second,
        "firing_rates": module.firing_rates.get("test", {}),
        "best_checkpoint": best or None,
        "output_dir": str(out_dir),
        "overrides": _overrides(),
    }
    write_summary(out_dir / "summary.json", summary)
    plot_curves(out_dir / "csv" / "metrics.csv", out_dir / "curves.png")
    print_summary(summary)

    name = cfg.get("optimized_metric")
    if name is None:
        return float("nan")
    if name not in metrics:
        raise KeyError(f"optimized_metric {name!r} was not logged; logged: {sorted(metrics)}")
    if math.isnan(metrics[name]):
        raise FloatingPointError(f"optimized_metric {name} is NaN (diverged run)")
    return metrics[name]


def _overrides() -> list[str]:
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def load_run_config(run_dir: Path, ckpt: dict[str, Any] | None = None) -> DictConfig:
    """A run's resolved config: the one stored in its checkpoint, else ``config.yaml`` in the run dir."""
    if ckpt is not None and ckpt.get("snnlab_config"):
        return OmegaConf.create(ckpt["snnlab_config"])
    return OmegaConf.load(run_dir / "config.yaml")


def find_checkpoint(run_dir: Path, which: str = "best") -> Path:
    """``best`` (the best ``val/acc`` checkpoint), ``last``, or a path."""
    ckpt_dir = run_dir / "checkpoints"
    if which == "last":
        return ckpt_dir / "last.ckpt"
    if which == "best":
        found = sorted(ckpt_dir.glob("best*.ckpt"))
        if not found:
            raise FileNotFoundError(f"no best*.ckpt in {ckpt_dir}")
        return found[-1]
    return Path(which)


def evaluate(run_dir: str | Path, checkpoint: str = "best", accelerator: str = "auto") -> dict[str, Any]:
    """Rebuild a finished run's exact model from its stored config, load ``checkpoint``, report test metrics."""
    run_dir = Path(run_dir)
    path = find_checkpoint(run_dir, checkpoint)
    state = torch.load(path, map_location="cpu", weights_only=False)
    cfg = load_run_config(run_dir, state)
    if cfg.seed is not None:
        lightning.seed_everything(cfg.seed)
    datamodule, module = build(cfg)
    module.load_state_dict(state["state_dict"])
    trainer = lightning.Trainer(accelerator=accelerator, devices=1, logger=False, enable_progress_bar=False)
    trainer.test(module, datamodule=datamodule, verbose=False)
    return {**_floats(trainer.callback_metrics), "checkpoint": str(path)}

"""The two things a user runs: :func:`train` (one Hydra job) and :func:`evaluate` (a finished run).

``train`` is :func:`prepare` (build and check everything, write nothing: a bad value stops here) followed by
:func:`execute` (fit, test, report; only rank 0 writes files).
"""

from __future__ import annotations

import logging
import math
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning
from lightning.pytorch.callbacks import ModelCheckpoint, ProgressBar
from lightning.pytorch.utilities import rank_zero_only
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from snnlab.data.base import SNNDataModule
from snnlab.instantiate import ConfigError, instantiate, instantiate_dict
from snnlab.training.callbacks.energy import EnergyCallback
from snnlab.training.callbacks.throughput import TrainThroughput
from snnlab.training.module.classifier import SNNClassifier
from snnlab.training.module.schedulers import total_epochs
from snnlab.training.reports.plots import layer_labels, plot_firing_rates
from snnlab.training.reports.summary import plot_curves, print_summary, write_summary
from snnlab.training.run.build import build
from snnlab.training.run.preflight import (
    check_backend,
    check_resume,
    dry_run,
    load_checkpoint,
    run_device,
    sync_batchnorm,
)
from snnlab.training.run.resume import Preemption, RunState, floats, last_checkpoint_path
from snnlab.validate import integer, positive_int

log = logging.getLogger(__name__)

PROTOCOLS = {
    "heldout": "validate on data.val_fraction of the training set; test the best checkpoint once",
    "paper": "train on the whole training set, validate on the test set every epoch: test_acc is the best epoch's",
}


@dataclass
class Run:
    """Everything :func:`prepare` built and checked; :func:`execute` runs it."""

    cfg: DictConfig
    datamodule: SNNDataModule
    module: SNNClassifier
    trainer: lightning.Trainer
    state: RunState
    preemption: Preemption
    throughput: TrainThroughput
    ckpt_path: str | None = None
    resume: dict[str, Any] = field(default_factory=dict)


def run_training(cfg: DictConfig) -> float:
    """Check and build everything, then fit, test and report; returns ``cfg.optimized_metric``.

    Everything is written under ``cfg.paths.output_dir``.  ``cfg.ckpt_path`` resumes a run; without it, a
    ``checkpoints/last.ckpt`` already in the output folder (a requeued cluster job) is resumed.
    """
    return execute(prepare(cfg))


def prepare(cfg: DictConfig) -> Run:
    """Build the run and try every part once (data, network, optimizer and schedule), writing nothing.

    A bad value raises :class:`~snnlab.instantiate.ConfigError` naming its key, before anything is written.
    The Trainer trains ``trainer.max_epochs`` epochs, or the total of a schedule that adds epochs (timm's
    cooldown: :func:`~snnlab.training.module.schedulers.total_epochs`).
    """
    positive_int(cfg.trainer.get("max_epochs"), "trainer.max_epochs")  # the schedule is tried over every epoch
    run_device(cfg.trainer)  # trainer=gpu without a GPU stops here
    if cfg.seed is not None:
        lightning.seed_everything(integer(cfg.seed, "seed", minimum=0), workers=True)
    out_dir = Path(cfg.paths.output_dir)
    ckpt_path = cfg.get("ckpt_path") or requeued_checkpoint(out_dir)
    checkpoint = load_checkpoint(ckpt_path, "ckpt_path") if ckpt_path else None
    protocol = cfg.get("protocol") or "heldout"
    if protocol not in PROTOCOLS:
        raise ConfigError(f"protocol={protocol!r}: valid: " + "; ".join(f"{k} ({v})" for k, v in PROTOCOLS.items()))
    datamodule, module = build(cfg)
    if protocol == "paper":
        datamodule.paper_protocol()
    check_backend(cfg)
    resume = (
        check_resume(cfg, module.config or {}, checkpoint, ckpt_path, module.scheduler_factory) if checkpoint else {}
    )
    dry_run(cfg, datamodule, module)
    state, throughput = RunState(), TrainThroughput()
    preemption = Preemption(out_dir / "checkpoints" / "last.ckpt")
    callbacks, ema = instantiate_dict(cfg.callbacks), cfg.get("ema")
    if ema and ema.get("decay") is not None:  # model EMA, before the preemption's checkpoint of the trained weights
        callbacks.append(instantiate(ema))
    callbacks += [state, throughput, preemption]
    loggers = instantiate_dict(cfg.logger)
    trainer = instantiate(
        cfg.trainer,
        callbacks=callbacks,
        logger=loggers or False,
        sync_batchnorm=sync_batchnorm(cfg.trainer),
        # callbacks.progress=null hides the bar (Lightning would add its default one)
        enable_progress_bar=cfg.trainer.get("enable_progress_bar", True)
        and any(isinstance(c, ProgressBar) for c in callbacks),
        max_epochs=total_epochs(module.scheduler_factory, cfg.trainer.max_epochs),  # + a schedule's cooldown
    )
    return Run(cfg, datamodule, module, trainer, state, preemption, throughput, ckpt_path, resume)


def requeued_checkpoint(out_dir: Path) -> str | None:
    """The newest checkpoint already in the run folder (``last.ckpt``, or Lightning's SLURM ``hpc_ckpt_N.ckpt``):
    present only when a cluster job runs again in its folder after a preemption or requeue."""
    found = [p for p in (out_dir / "checkpoints" / "last.ckpt", *out_dir.glob("hpc_ckpt_*.ckpt")) if p.is_file()]
    if not found:
        return None
    newest = max(found, key=lambda p: p.stat().st_mtime)
    log.info(f"Resuming from {newest}: the run folder already has a checkpoint (a requeued job)")
    return str(newest)


def execute(run: Run) -> float:
    """Fit and test a prepared run; rank 0 writes ``config.yaml``, ``summary.json``, ``curves.png`` and prints the
    summary.  A SIGTERM / SIGINT stops after the current batch with ``last.ckpt`` written and raises
    :class:`~snnlab.training.run.resume.Interrupted`."""
    cfg, trainer, module = run.cfg, run.trainer, run.module
    out_dir = Path(cfg.paths.output_dir)
    if rank_zero_only.rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(cfg, out_dir / "config.yaml", resolve=True)
    start = time.perf_counter()
    best_callback = next((c for c in trainer.checkpoint_callbacks if getattr(c, "monitor", None)), None)
    try:
        trainer.fit(module, datamodule=run.datamodule, ckpt_path=run.ckpt_path)
        fit_metrics = floats(trainer.callback_metrics)
        best = best_callback.best_model_path if isinstance(best_callback, ModelCheckpoint) else ""
        trainer.test(module, datamodule=run.datamodule, ckpt_path=best or None, verbose=False)
    except SIGTERMException:
        interrupted = run.preemption.interrupted()
        report(run, out_dir, time.perf_counter() - start, {}, best_callback, interrupted.signum)
        raise interrupted from None
    metrics = {**fit_metrics, **floats(trainer.callback_metrics)}
    report(run, out_dir, time.perf_counter() - start, metrics, best_callback)

    name = cfg.get("optimized_metric")
    if name is None:
        return float("nan")
    if name not in metrics:
        raise KeyError(f"optimized_metric {name!r} was not logged; logged: {sorted(metrics)}")
    if math.isnan(metrics[name]):
        raise FloatingPointError(f"optimized_metric {name} is NaN (diverged run)")
    return metrics[name]


def report(
    run: Run, out_dir: Path, wall: float, metrics: dict[str, float], best: Any, signum: int | None = None
) -> None:
    """Write ``summary.json`` and ``curves.png`` and print the summary (rank 0 only)."""
    trainer = run.trainer
    if rank_zero_only.rank != 0:
        return
    history = run.state.history
    val = [row["val/acc"] for row in history if "val/acc" in row]
    score = getattr(best, "best_model_score", None)
    last = last_checkpoint_path(trainer, out_dir / "checkpoints" / "last.ckpt")
    summary = {
        "status": "finished" if signum is None else f"interrupted ({signal.Signals(signum).name})",
        "protocol": run.cfg.get("protocol") or "heldout",
        "test_acc": metrics.get("test/acc"),
        "test_loss": metrics.get("test/loss"),
        "best_val_acc": float(score) if score is not None else (max(val) if val else None),
        "epochs": len(history),
        "step": trainer.global_step,
        "params": sum(p.numel() for p in run.module.parameters()),
        "wall_time_s": wall,
        "train_samples_per_s": run.throughput.samples_per_second,
        "firing_rates": {k.removeprefix("test/rate/"): v for k, v in metrics.items() if k.startswith("test/rate/")},
        "energy": next((c.report for c in trainer.callbacks if isinstance(c, EnergyCallback)), None),
        "best_checkpoint": getattr(best, "best_model_path", None) or None,
        "last_checkpoint": str(last) if last.is_file() else None,
        "output_dir": str(out_dir),
        "overrides": _overrides(),
        **run.resume,
    }
    write_summary(out_dir / "summary.json", summary)
    plot_curves(history, out_dir / "curves.png")
    if summary["firing_rates"]:
        plot_firing_rates(summary["firing_rates"], out_dir / "firing_rates.png", layer_labels(run.module.net))
    print_summary(summary)
    if signum is not None:
        log.warning(
            f"Interrupted by {signal.Signals(signum).name} after {len(history)} epochs (step {trainer.global_step}); "
            f"resume with the same overrides plus ckpt_path={run.preemption.saved or last}"
        )


def _overrides() -> list[str]:
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []

"""The two things a user runs: :func:`train` (one Hydra job) and :func:`evaluate` (a finished run).

``train`` is :func:`prepare` (build and check everything, write nothing: a bad value stops here) followed by
:func:`execute` (fit, test, report; only rank 0 writes files).
"""

from __future__ import annotations

import copy
import logging
import math
import os
import signal
import time
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_only
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from snnlab import registry
from snnlab.data.base import SNNDataModule
from snnlab.instantiate import ConfigError, config_error_in, instantiate, instantiate_dict
from snnlab.training.build import build
from snnlab.training.module import SNNClassifier
from snnlab.training.report import plot_curves, print_summary, write_summary
from snnlab.training.resume import (
    Preemption,
    RunState,
    completed_epochs,
    config_changes,
    floats,
    last_checkpoint_path,
    preserved_rng,
)
from snnlab.training.throughput import TrainThroughput

log = logging.getLogger(__name__)


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


def train(cfg: DictConfig) -> float:
    """Check and build everything, then fit, test and report; returns ``cfg.optimized_metric``.

    Everything is written under ``cfg.paths.output_dir``.  ``cfg.ckpt_path`` resumes a run; without it, a
    ``checkpoints/last.ckpt`` already in the output folder (a requeued cluster job) is resumed.
    """
    return execute(prepare(cfg))


def prepare(cfg: DictConfig) -> Run:
    """Build the run and try every part once (data, network, optimizer and schedule), writing nothing.

    A bad value raises :class:`~snnlab.instantiate.ConfigError` naming its key, before anything is written.
    """
    epochs = cfg.trainer.get("max_epochs")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ConfigError(f"trainer.max_epochs={epochs!r}: must be a positive integer (epochs to train)")
    if cfg.seed is not None:
        lightning.seed_everything(cfg.seed, workers=True)
    out_dir = Path(cfg.paths.output_dir)
    ckpt_path = cfg.get("ckpt_path") or requeued_checkpoint(out_dir)
    checkpoint = load_checkpoint(ckpt_path, "ckpt_path") if ckpt_path else None
    datamodule, module = build(cfg)
    check_backend(cfg)
    resume = check_resume(cfg, module.config or {}, checkpoint, ckpt_path) if checkpoint else {}
    dry_run(cfg, datamodule, module)
    state, throughput = RunState(), TrainThroughput()
    preemption = Preemption(out_dir / "checkpoints" / "last.ckpt")
    callbacks = [*instantiate_dict(cfg.callbacks), state, throughput, preemption]
    loggers = instantiate_dict(cfg.logger)
    trainer = instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers or False, sync_batchnorm=sync_batchnorm(cfg.trainer)
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


def local_rank() -> int:
    """This process's rank on its machine, from Lightning's DDP launcher or SLURM (0 when alone)."""
    return int(os.environ.get("LOCAL_RANK", os.environ.get("SLURM_LOCALID", 0)))


def uses_gpu(trainer_cfg: DictConfig) -> bool:
    """Whether the trainer config runs on CUDA devices (``auto`` does when one is visible)."""
    accelerator = str(trainer_cfg.get("accelerator", "auto"))
    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())


def sync_batchnorm(trainer_cfg: DictConfig) -> bool:
    """``trainer.sync_batchnorm``: ``auto`` is on with GPUs (Lightning applies it to multi-process strategies only);
    ``true`` on the CPU is an error (torch's DDP has no SyncBatchNorm there)."""
    value = trainer_cfg.get("sync_batchnorm", False)
    if value == "auto":
        return uses_gpu(trainer_cfg)
    if value not in (True, False):
        raise ConfigError(f"trainer.sync_batchnorm={value!r}: must be auto, true or false")
    if value and not uses_gpu(trainer_cfg):
        raise ConfigError(
            "trainer.sync_batchnorm=true: torch's DDP syncs batch norm only on GPUs, and this run is on the CPU; "
            "set trainer.sync_batchnorm=auto (or false): each process then normalises with its own batch statistics"
        )
    return bool(value)


def check_backend(cfg: DictConfig) -> None:
    """An explicit neuron backend must run on the run's device here (``auto`` always does)."""
    if cfg.backend == "auto":
        return
    backend = registry.get("backend", cfg.backend)
    device = "cuda" if uses_gpu(cfg.trainer) else "cpu"
    if device not in backend.devices:
        raise ConfigError(
            f"backend={cfg.backend!r}: runs on {'/'.join(backend.devices)} tensors, but this run is on the {device} "
            f"(trainer.accelerator={cfg.trainer.get('accelerator')!r}); use backend=auto"
        )
    reason = backend.unavailable()
    if reason is not None:
        raise ConfigError(f"backend={cfg.backend!r}: unavailable here: {reason}; {backend.hint or 'use backend=auto'}")


def load_checkpoint(path: str | Path, key: str = "checkpoint") -> dict[str, Any]:
    """A training checkpoint written by snnlab, or a :class:`ConfigError` that says what the file is instead."""
    where = f"{key}={str(path)!r}"
    if not Path(path).is_file():
        raise ConfigError(f"{where}: no such file")
    if not zipfile.is_zipfile(path):
        raise ConfigError(f"{where}: not a PyTorch checkpoint (no zip archive: an unfinished copy or another file)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as e:  # torch raises many kinds for a damaged archive
        reason = [line for line in str(e).splitlines() if line.strip()][-1:] or [type(e).__name__]
        raise ConfigError(f"{where}: the checkpoint cannot be read ({reason[0][:200]})") from e
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ConfigError(f"{where}: not a Lightning checkpoint (no state_dict)")
    if not checkpoint.get("snnlab_config"):
        raise ConfigError(f"{where}: not written by snnlab (it stores no run config)")
    return checkpoint


def check_resume(
    cfg: DictConfig, config: dict[str, Any], checkpoint: dict[str, Any], path: str | None
) -> dict[str, Any]:
    """Refuse a resume whose config changes the network or the data; returns what the summary records."""
    conflicts, changed = config_changes(checkpoint["snnlab_config"], config)
    if conflicts:
        raise ConfigError(
            f"ckpt_path={path!r}: the checkpoint was trained with other model or data settings; resume with the "
            "same values (optimizer, schedule and trainer settings may change). Differences (checkpoint -> now):\n  "
            + "\n  ".join(conflicts)
        )
    done = completed_epochs(checkpoint) if "loops" in checkpoint else 0
    if cfg.trainer.max_epochs <= done:
        raise ConfigError(
            f"trainer.max_epochs={cfg.trainer.max_epochs}: the checkpoint has finished {done} epochs; "
            "raise trainer.max_epochs to train on"
        )
    return {"resumed_from": str(path), "resumed_at_epoch": done, "changed_on_resume": changed}


def dry_run(cfg: DictConfig, datamodule: SNNDataModule, module: SNNClassifier) -> None:
    """Use every part once before training, so values that only fail in use stop the run now: the data (files,
    loader settings, two samples), the optimizer and its schedule over all epochs, and the network on two samples
    in training mode.  Random generators and the module's state are left as they were."""
    with preserved_rng(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        batch = try_data(cfg, datamodule)
        try_schedule(cfg, module)
        try_network(cfg, module, batch)


def try_data(cfg: DictConfig, datamodule: SNNDataModule) -> Any:
    """Read the data's files and make the training loader; returns a batch of two samples."""
    try:
        if local_rank() == 0:
            datamodule.prepare_data()  # downloads, when asked to
        datamodule.setup("fit")
        loader = datamodule.train_dataloader()
        dataset = loader.dataset
        return loader.collate_fn([dataset[i] for i in range(min(2, len(dataset)))])  # type: ignore[arg-type]
    except OSError:
        raise  # missing or unreadable files: the data module's message names the files and how to get them
    except Exception as e:
        raise config_error_in(cfg, ("data",), e, default="data") from e


def try_schedule(cfg: DictConfig, module: SNNClassifier) -> None:
    """Build the optimizer and step its scheduler over every epoch: the learning rate must stay finite and >= 0."""
    try:
        configured = module.configure_optimizers()
    except Exception as e:
        raise config_error_in(cfg, ("optim", "scheduler"), e, default="optim") from e
    if not isinstance(configured, dict) or configured.get("lr_scheduler") is None:
        return
    optimizer, scheduler = configured["optimizer"], configured["lr_scheduler"]
    node = OmegaConf.to_container(cfg.scheduler, resolve=True)
    negative = ", ".join(f"{k}={v}" for k, v in node.items() if isinstance(v, (int, float)) and v < 0)
    try:
        for epoch in range(1, cfg.trainer.max_epochs + 1):
            scheduler.step()
            lr = min(group["lr"] for group in optimizer.param_groups)
            if not math.isfinite(lr) or lr < 0:
                raise ValueError(f"the learning rate turns {lr:.3g} at epoch {epoch} ({negative}); it must stay >= 0")
    except Exception as e:
        raise config_error_in(cfg, ("scheduler",), e, default="scheduler") from e


def try_network(cfg: DictConfig, module: SNNClassifier, batch: Any) -> None:
    """The network on two samples in training mode (on the run's device), after a check for empty layers."""
    empty = next(((name, p) for name, p in module.net.named_parameters() if p.numel() == 0), None)
    if empty is not None:
        node = OmegaConf.to_container(cfg.model, resolve=True)
        keys = [k for k, v in node.items() if not isinstance(v, bool) and 0 in (v if isinstance(v, list) else [v])]
        where = ", ".join(f"model.{k}={node[k]!r}" for k in keys) or f"model ({node.get('_target_')})"
        shape = list(empty[1].shape)
        raise ConfigError(f"{where}: builds a layer without units ({empty[0]} of shape {shape}); sizes must be >= 1")
    state = copy.deepcopy(module.state_dict())
    device = torch.device("cuda", local_rank()) if uses_gpu(cfg.trainer) else "cpu"
    try:
        with torch.no_grad():
            module.to(device).train().compute_loss([t.to(device) for t in batch])
    except Exception as e:
        groups = ("norm", "neuron", "dropout", "encoder", "model")
        error = config_error_in(cfg, groups, e)
        raise error or ConfigError(f"the network fails on two training samples: {type(e).__name__}: {e}") from e
    finally:
        module.cpu().load_state_dict(state)


def execute(run: Run) -> float:
    """Fit and test a prepared run; rank 0 writes ``config.yaml``, ``summary.json``, ``curves.png`` and prints the
    summary.  A SIGTERM / SIGINT stops after the current batch with ``last.ckpt`` written and raises
    :class:`~snnlab.training.resume.Interrupted`."""
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
        "test_acc": metrics.get("test/acc"),
        "test_loss": metrics.get("test/loss"),
        "best_val_acc": float(score) if score is not None else (max(val) if val else None),
        "epochs": len(history),
        "step": trainer.global_step,
        "params": sum(p.numel() for p in run.module.parameters()),
        "wall_time_s": wall,
        "train_samples_per_s": run.throughput.samples_per_second,
        "firing_rates": {k.removeprefix("test/rate/"): v for k, v in metrics.items() if k.startswith("test/rate/")},
        "best_checkpoint": getattr(best, "best_model_path", None) or None,
        "last_checkpoint": str(last) if last.is_file() else None,
        "output_dir": str(out_dir),
        "overrides": _overrides(),
        **run.resume,
    }
    write_summary(out_dir / "summary.json", summary)
    plot_curves(history, out_dir / "curves.png")
    print_summary(summary)
    if signum is not None:
        log.warning(
            f"Interrupted by {signal.Signals(signum).name} after {len(history)} epochs (step {trainer.global_step}); "
            f"resume with the same overrides plus ckpt_path={run.preemption.saved or last}"
        )


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
    if which not in ("best", "last"):
        return Path(which)
    ckpt_dir = run_dir / "checkpoints"
    if not ckpt_dir.is_dir():
        what = "no such folder" if not run_dir.exists() else "not a run folder (it has no checkpoints/)"
        raise FileNotFoundError(f"{run_dir}: {what}; pass a folder a training run wrote, outputs/<task>/runs/<time>")
    found = sorted(ckpt_dir.glob("best*.ckpt")) if which == "best" else [ckpt_dir / "last.ckpt"]
    if not found or not found[-1].is_file():
        raise FileNotFoundError(f"{run_dir}: no {which} checkpoint in checkpoints/ (training stopped before one)")
    return found[-1]


def evaluate(run_dir: str | Path, checkpoint: str = "best", accelerator: str = "auto") -> dict[str, Any]:
    """Rebuild a finished run's exact model from its stored config, load ``checkpoint``, report test metrics."""
    run_dir = Path(run_dir)
    path = find_checkpoint(run_dir, checkpoint)
    state = load_checkpoint(path, "--ckpt")
    cfg = load_run_config(run_dir, state)
    if cfg.seed is not None:
        lightning.seed_everything(cfg.seed)
    datamodule, module = build(cfg)
    try:
        missing, unexpected = module.load_state_dict(state["state_dict"], strict=False)
    except RuntimeError as e:  # a weight of another shape
        missing, unexpected = [str(e).splitlines()[-1].strip()], []
    if missing or unexpected:
        raise ConfigError(
            f"--ckpt={str(path)!r}: holds another network than its config describes "
            f"({len(missing)} missing weights, e.g. {missing[:2]}; {len(unexpected)} unexpected, e.g. {unexpected[:2]})"
        )
    trainer = lightning.Trainer(accelerator=accelerator, devices=1, logger=False, enable_progress_bar=False)
    trainer.test(module, datamodule=datamodule, verbose=False)
    return {**floats(trainer.callback_metrics), "checkpoint": str(path)}

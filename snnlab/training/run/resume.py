"""Checkpoints that resume exactly, and a clean stop on SIGTERM / SIGINT.

:class:`RunState` puts into every checkpoint what Lightning leaves out: the per-epoch history (so a resumed
run's metrics, curves and best cover all epochs) and the random number generators.  On resume it carries the best
checkpoint into the new run folder and applies changed optimizer / scheduler settings.  :class:`Preemption` turns
SIGINT into Lightning's SIGTERM handling (stop after the current batch) and writes ``last.ckpt`` of that step.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException

from snnlab.training.module.schedulers import epoch_end, optimizer_and_scheduler

FROZEN_ON_RESUME = ("model", "neuron", "norm", "dropout", "encoder", "learning", "classifier", "data", "T", "step_mode")
"""Config sections that define the network or the data: a resumed run must keep them."""
LOADER_KEYS = ("data.batch_size", "data.num_workers", "data.pin_memory", "data.data_dir", "data.download")
"""Data keys that only say where and how fast to read: they may change on resume."""
RECORDED_ON_RESUME = ("optim", "scheduler", "trainer", "data", "backend", "seed", "augment", "ema")


class Interrupted(SystemExit):
    """Training stopped by a signal after writing a resumable checkpoint; exits with ``128 + signal``."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum


def flatten(cfg: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}``."""
    out: dict[str, Any] = {}
    for key, value in cfg.items():
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def config_changes(old: dict[str, Any], new: dict[str, Any]) -> tuple[list[str], dict[str, list[Any]]]:
    """Differences between a checkpoint's config and the new one: ``(conflicts, recorded)``.

    Conflicts change the network or the data (``FROZEN_ON_RESUME`` minus ``LOADER_KEYS``), as ``key: old -> new``
    lines; recorded changes (optimizer, schedule, epochs, ...) map ``key`` to ``[old, new]``.  Paths into the old
    run folder are not changes.
    """
    flat_old, flat_new = flatten(old), flatten(new)
    old_dir = str(old.get("paths", {}).get("output_dir", "\0"))
    conflicts, recorded = [], {}
    for key in sorted(set(flat_old) | set(flat_new)):
        before, after = flat_old.get(key, "<unset>"), flat_new.get(key, "<unset>")
        if before == after or old_dir in str(before):
            continue
        section = key.split(".")[0]
        if section in FROZEN_ON_RESUME and key not in LOADER_KEYS:
            conflicts.append(f"{key}: {before!r} -> {after!r}")
        elif section in RECORDED_ON_RESUME:
            recorded[key] = [before, after]
    return conflicts, recorded


def completed_epochs(checkpoint: dict[str, Any]) -> int:
    """Training epochs a checkpoint has finished (the epoch-interval scheduler steps taken)."""
    return int(checkpoint["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"])


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch generator states, as plain values (loadable with ``weights_only``)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {"python": random.getstate(), "numpy": [kind, keys.tolist(), pos, has_gauss, gauss]}
    state["torch"] = torch.get_rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    random.setstate(tuple(v if not isinstance(v, list) else tuple(v) for v in state["python"]))
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@contextmanager
def preserved_rng() -> Iterator[None]:
    """Run a block (a dry run) without changing any random number generator."""
    state = rng_state()
    try:
        yield
    finally:
        set_rng_state(state)


def floats(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if not isinstance(v, torch.Tensor) or v.numel() == 1}


class RunState(Callback):
    """Per-epoch history and RNG state in every checkpoint; on resume, the run continues where it stopped.

    ``history`` holds one row per finished epoch (``epoch``, ``step`` and every epoch-level metric).  A resumed
    run re-logs the restored rows to its loggers, so ``metrics.csv`` and the curves cover every epoch.
    """

    def __init__(self) -> None:
        self.history: list[dict[str, float]] = []
        self.restored = 0
        self.fitting = False

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        self.fitting = stage == "fit"  # testing the best checkpoint restores callbacks too: keep the history then

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        row = {"epoch": trainer.current_epoch, "step": trainer.global_step, **floats(trainer.callback_metrics)}
        self.history.append(row)

    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history, "rng": rng_state()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not self.fitting:
            return
        self.history = list(state_dict["history"])
        self.restored = len(self.history)
        set_rng_state(state_dict["rng"])

    def on_load_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        for callback in trainer.checkpoint_callbacks:
            state = checkpoint.get("callbacks", {}).get(callback.state_key)
            if isinstance(callback, ModelCheckpoint) and state and callback.dirpath:
                move_checkpoint_state(state, callback.dirpath, copy=self.fitting and trainer.is_global_zero)
        old = checkpoint.get("snnlab_config") or {}
        new = getattr(pl_module, "config", None) or {}
        if self.fitting and any(old.get(key) != new.get(key) for key in ("optim", "scheduler")):
            apply_new_schedule(pl_module, checkpoint)

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        for row in self.history[: self.restored]:
            for logger in trainer.loggers:
                logger.log_metrics({k: v for k, v in row.items() if k != "step"}, step=int(row["step"]))


def move_checkpoint_state(state: dict[str, Any], dirpath: str, copy: bool) -> None:
    """Point a ModelCheckpoint state from the old run's folder to ``dirpath``, copying the best files there.

    Lightning drops the best score when the folder changes; moved, the state (score and files) carries over.
    """
    old_dir = state.get("dirpath")
    if not old_dir or Path(old_dir).resolve() == Path(dirpath).resolve():
        return

    def moved(path: str, copy_file: bool = True) -> str:
        if not path or Path(path).parent != Path(old_dir):
            return path
        target = os.path.join(dirpath, Path(path).name)
        if copy and copy_file and os.path.isfile(path) and not os.path.exists(target):
            os.makedirs(dirpath, exist_ok=True)
            shutil.copy2(path, target)
        return target

    state["best_k_models"] = {moved(k): v for k, v in (state.get("best_k_models") or {}).items()}
    state["kth_best_model_path"] = moved(state.get("kth_best_model_path", ""), copy_file=False)
    state["best_model_path"] = moved(state.get("best_model_path", ""), copy_file=state["monitor"] is not None)
    state["last_model_path"] = moved(state.get("last_model_path", ""), copy_file=False)
    state["dirpath"] = dirpath


def apply_new_schedule(pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
    """Resume with the new optimizer / scheduler settings: the hyper-parameters (and the learning rate) are those of
    the new config at the resumed epoch, as if the run had started with it; the optimizer's moments are kept when
    its kind (``optim._target_`` and ``optim.opt``) and its parameter groups are unchanged."""
    optimizer, scheduler = optimizer_and_scheduler(pl_module.configure_optimizers())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # stepping a scheduler without optimizer steps
        for epoch in range(1, completed_epochs(checkpoint) + 1) if scheduler is not None else ():
            epoch_end(scheduler, epoch)
    fresh = optimizer.state_dict()
    old = checkpoint["optimizer_states"][0]
    old_cfg, new_cfg = checkpoint.get("snnlab_config") or {}, getattr(pl_module, "config", None) or {}
    kind = [{k: cfg.get("optim", {}).get(k) for k in ("_target_", "opt")} for cfg in (old_cfg, new_cfg)]
    groups = [[len(group["params"]) for group in state["param_groups"]] for state in (old, fresh)]
    if kind[0] != kind[1] or groups[0] != groups[1]:
        checkpoint["optimizer_states"][0] = fresh
    else:
        for group, new_group in zip(old["param_groups"], fresh["param_groups"]):
            group.update({k: v for k, v in new_group.items() if k != "params"})
    checkpoint["lr_schedulers"] = [scheduler.state_dict()] if scheduler is not None else []


def last_checkpoint_path(trainer: Trainer, default: Path) -> Path:
    """Where ``last.ckpt`` goes: the folder of the unmonitored (every-epoch) ModelCheckpoint, else ``default``."""
    for callback in trainer.checkpoint_callbacks:
        if isinstance(callback, ModelCheckpoint) and callback.monitor is None and callback.dirpath:
            return Path(callback.format_checkpoint_name({}))
    return default


class Preemption(Callback):
    """SIGTERM (a scheduler's preemption) or SIGINT (Ctrl-C): finish the current batch, write ``last.ckpt`` of that
    step, then raise :class:`Interrupted`.  A second Ctrl-C stops at once."""

    def __init__(self, last_path: Path) -> None:
        self.last_path = last_path
        self.signum: int | None = None
        self.saved: str | None = None
        self._previous: Any = None

    def _on_sigint(self, signum: int, frame: Any) -> None:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # the second Ctrl-C interrupts at once
        self.signum = signum
        if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, signal.SIG_IGN, None):
            raise KeyboardInterrupt  # outside fit: Lightning's SIGTERM handling is not installed
        signal.raise_signal(signal.SIGTERM)

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if stage == "fit" and self._previous is None:
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)

    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        if not isinstance(exception, SIGTERMException) or trainer.state.fn != "fit":
            return
        path = last_checkpoint_path(trainer, self.last_path)
        trainer.save_checkpoint(path, weights_only=False)
        self.saved = str(path)

    def interrupted(self) -> Interrupted:
        """The exception that ends the interrupted run (SIGTERM unless a Ctrl-C came first)."""
        return Interrupted(self.signum or signal.SIGTERM)

"""The training app: ``snnlab train`` / ``python train.py`` (Hydra over the configs shipped in :mod:`snnlab.conf`).

A user error (a bad value, a missing or unreadable file) prints one line and exits with code 2 before anything is
written: no traceback (``HYDRA_FULL_ERROR=1`` shows it) and no run folder left behind.  Every value is checked
where it is consumed, while the run is built (the root keys too: ``T`` by the encoder, data or norm that takes it,
``seed`` by the run's seeding, ``step_mode`` and ``backend`` by :func:`snnlab.functional.configure`).
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from snnlab.conf import CONFIG_DIR
from snnlab.instantiate import ConfigError

EXIT_USER_ERROR = 2
USER_ERRORS = (ValueError, TypeError, OSError, OmegaConfBaseException)
MULTI_PROCESS = ("ddp", "fsdp", "deepspeed")
"""Strategies (name prefixes) that run one process per device."""
LIGHTNING_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric")
"""Loggers that Lightning gives handlers of their own."""
THIRD_PARTY_NOTICES = ("💡 Tip:", "Trainer already configured with model summary callbacks")
"""Lightning log lines that advertise or restate the config: dropped from the console."""


@hydra.main(version_base="1.3", config_path="pkg://snnlab.conf", config_name="train")
def train(cfg: DictConfig) -> float:
    """``python train.py [overrides]``: one training run; returns the optimized metric to sweepers."""
    out_dir = Path(cfg.paths.output_dir)
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    if multirun:  # a sweep override (trainer=ddp,default) that MultirunGuard could not see
        try:
            check_multirun(cfg, HydraConfig.get().launcher)
        except ConfigError as e:
            remove_unstarted(out_dir)
            fail(e)
    try:
        from snnlab.training.run.lifecycle import execute, prepare

        quiet_third_party()
        run = prepare(cfg)
    except USER_ERRORS as e:
        remove_unstarted(out_dir)
        if multirun:
            raise  # the sweeper decides (Optuna counts a failed trial)
        fail(e, HydraConfig.get().overrides.task)
    return execute(run)


def fail(error: BaseException, overrides: Sequence[str] = ()) -> NoReturn:
    """Print a user error as one message and exit with code 2 (re-raise it under ``HYDRA_FULL_ERROR=1``);
    ``overrides`` (the command line's) add what an experiment run on data other than its own should know."""
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        raise error
    print(f"error: {error}{recipe_note(overrides)}\n(HYDRA_FULL_ERROR=1 shows the traceback)", file=sys.stderr)
    sys.exit(EXIT_USER_ERROR)


def recipe_note(overrides: Sequence[str]) -> str:
    """``experiment=X`` with ``data=Y`` where the recipe X is written for other data: a line saying so ('' if not)."""
    chosen = dict(o.split("=", 1) for o in overrides if o.split("=", 1)[0] in ("experiment", "data") and "=" in o)
    recipe = CONFIG_DIR / "experiment" / f"{chosen.get('experiment')}.yaml"
    if "data" not in chosen or not recipe.is_file():
        return ""
    defaults = OmegaConf.load(recipe).get("defaults") or []
    own = next((d["override /data"] for d in defaults if isinstance(d, DictConfig) and "override /data" in d), None)
    if own is None or own == chosen["data"]:
        return ""
    return f"\n(experiment={chosen['experiment']} is written for data={own}; this run uses data={chosen['data']})"


def multi_process(trainer: DictConfig) -> bool:
    """Whether the trainer starts one process per device (a DDP-like strategy on more than one device)."""
    one = trainer.get("devices", 1) in (1, "1") and trainer.get("num_nodes", 1) == 1
    return str(trainer.get("strategy", "auto")).startswith(MULTI_PROCESS) and not one


def check_multirun(cfg: DictConfig, launcher: DictConfig) -> None:
    """A local multirun cannot host jobs that start processes of their own (each would re-run the sweep)."""
    if multi_process(cfg.trainer) and not str(launcher.get("_target_", "")).endswith("SlurmLauncher"):
        t = cfg.trainer
        raise ConfigError(
            f"trainer.strategy={t.get('strategy')!r} with trainer.devices={t.get('devices')!r}: a -m multirun cannot "
            "start a process per device here. Run the configurations one at a time, or sweep on a cluster with "
            "hydra/launcher=submitit_slurm (tasks per node = devices; README, Multi-GPU and clusters)"
        )


class MultirunGuard(Callback):
    """Hydra callback: rejects a multirun of multi-process (DDP) jobs before any job or folder is created."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            check_multirun(config, config.hydra.launcher)
        except ConfigError as e:
            fail(e)


def remove_unstarted(out_dir: Path) -> None:
    """Delete the run folder Hydra made for a run that never started (it holds only Hydra's files), and the empty
    folders above it inside the working directory.  Only the first process does it."""
    rank = next((os.environ[k] for k in ("RANK", "LOCAL_RANK", "SLURM_PROCID") if k in os.environ), "0")
    if rank != "0" or not out_dir.is_dir() or any(p.name != ".hydra" and p.suffix != ".log" for p in out_dir.iterdir()):
        return
    shutil.rmtree(out_dir)
    cwd = Path.cwd().resolve()
    for parent in out_dir.resolve().parents:
        if parent == cwd or cwd not in parent.parents or any(parent.iterdir()):
            break
        parent.rmdir()


class _DropNotices(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(THIRD_PARTY_NOTICES)


def quiet_third_party() -> None:
    """Each log line once and no advertising: Lightning's records go to the root handlers (Hydra's console) only,
    without its product tips; a deprecation warning Lightning triggers in torch, and torch's warning about an
    empty layer (which the run reports as an error naming the key), are hidden."""
    root = logging.getLogger()
    lightning_loggers = [logging.getLogger(name) for name in LIGHTNING_LOGGERS]
    handlers = list(root.handlers)
    for logger in lightning_loggers:
        if root.handlers:  # Lightning's packages log through their own handlers unless they propagate
            logger.handlers.clear()
            logger.propagate = True
        handlers += logger.handlers
    for handler in handlers:
        if not any(isinstance(f, _DropNotices) for f in handler.filters):
            handler.addFilter(_DropNotices())
    warnings.filterwarnings("ignore", message=r".*LeafSpec.* is deprecated")
    warnings.filterwarnings("ignore", message=r"Initializing zero-element tensors")  # model.hidden=0 gets an error

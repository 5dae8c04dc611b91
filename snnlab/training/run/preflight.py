"""Before training: every value checked and every part tried once, so a bad value stops the run before anything
is written, with a :class:`~snnlab.instantiate.ConfigError` that names the key, the value and what is valid."""

from __future__ import annotations

import copy
import math
import os
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from snnlab import registry
from snnlab.data.base import SNNDataModule
from snnlab.instantiate import ConfigError, config_error, runtime_error
from snnlab.training.module.classifier import SNNClassifier
from snnlab.training.module.learning import BPTT
from snnlab.training.module.schedulers import epoch_end, optimizer_and_scheduler, total_epochs
from snnlab.training.run.resume import completed_epochs, config_changes, preserved_rng

MEASURED_STEPS = 2
"""Time steps of the forward pass that measures a training batch's memory."""


def local_rank() -> int:
    """This process's rank on its machine, from Lightning's DDP launcher or SLURM (0 when alone)."""
    return int(os.environ.get("LOCAL_RANK", os.environ.get("SLURM_LOCALID", 0)))


def uses_gpu(trainer_cfg: DictConfig) -> bool:
    """Whether the trainer config runs on CUDA devices (``auto`` does when one is visible)."""
    accelerator = str(trainer_cfg.get("accelerator", "auto"))
    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())


def run_device(trainer_cfg: DictConfig) -> torch.device:
    """The device this process trains on: its CUDA device, or the CPU.  A GPU trainer on a machine without a CUDA
    device is a :class:`ConfigError` naming ``trainer.accelerator``."""
    if not uses_gpu(trainer_cfg):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        accelerator = trainer_cfg.get("accelerator")
        raise ConfigError(
            f"trainer.accelerator={accelerator!r}: trainer=gpu needs a CUDA device and none was found here "
            "(torch.cuda.is_available() is false); use trainer=cpu, or trainer.accelerator=auto (a GPU when visible)"
        )
    return torch.device("cuda", local_rank())


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
    """An explicit neuron backend (not ``auto``) must run on the run's device here: the backend's own check."""
    if cfg.backend != "auto":
        registry.get("backend", cfg.backend).check(run_device(cfg.trainer))


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
    cfg: DictConfig, config: dict[str, Any], checkpoint: dict[str, Any], path: str | None, scheduler: Any
) -> dict[str, Any]:
    """Refuse a resume whose config changes the network or the data, or that has no epochs left (of ``scheduler``'s
    total, see :func:`~snnlab.training.module.schedulers.total_epochs`); returns what the summary records."""
    conflicts, changed = config_changes(checkpoint["snnlab_config"], config)
    if conflicts:
        raise ConfigError(
            f"ckpt_path={path!r}: the checkpoint was trained with other model or data settings; resume with the "
            "same values (optimizer, schedule and trainer settings may change). Differences (checkpoint -> now):\n  "
            + "\n  ".join(conflicts)
        )
    done = completed_epochs(checkpoint) if "loops" in checkpoint else 0
    if total_epochs(scheduler, cfg.trainer.max_epochs) <= done:
        raise ConfigError(
            f"trainer.max_epochs={cfg.trainer.max_epochs}: the checkpoint has finished {done} epochs; "
            "raise trainer.max_epochs to train on"
        )
    return {"resumed_from": str(path), "resumed_at_epoch": done, "changed_on_resume": changed}


def dry_run(cfg: DictConfig, datamodule: SNNDataModule, module: SNNClassifier) -> None:
    """Use every part once before training, so values that only fail in use stop the run now: the data (files,
    loader settings, two samples), the optimizer and its schedule over all epochs, the memory of a training batch,
    and the network on two samples in training mode.  Random generators and the module's state are left as they were."""
    with preserved_rng(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        batch = try_data(cfg, datamodule)
        try_schedule(cfg, module)
        try_memory(cfg, module, batch)
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
        node = cfg.data
        raise config_error("data", OmegaConf.to_container(node, resolve=True), e, OmegaConf.to_container(node)) from e


def try_schedule(cfg: DictConfig, module: SNNClassifier) -> None:
    """Build the optimizer and step its scheduler over every epoch of the run (cooldown included): the learning
    rate must stay finite and >= 0."""
    configured = module.configure_optimizers()  # the optimizer's and scheduler's factories name their nodes
    optimizer, scheduler = optimizer_and_scheduler(configured)
    if scheduler is None:
        return
    node = OmegaConf.to_container(cfg.scheduler, resolve=True)
    for epoch in range(1, total_epochs(module.scheduler_factory, cfg.trainer.max_epochs) + 1):
        try:
            epoch_end(scheduler, epoch)
        except Exception as e:
            raise config_error("scheduler", node, e) from e
        lr = min(group["lr"] for group in optimizer.param_groups)
        if not math.isfinite(lr) or lr < 0:
            values = ", ".join(f"scheduler.{k}={v}" for k, v in node.items() if not k.startswith("_"))
            raise ConfigError(f"{values}: the learning rate turns {lr:.3g} at epoch {epoch}; it must stay >= 0")


def try_memory(cfg: DictConfig, module: SNNClassifier, batch: Any) -> None:
    """Refuse a BPTT run whose training batch cannot fit: the layer outputs of a sample over ``MEASURED_STEPS``
    steps, scaled to ``data.batch_size`` samples and all ``T`` steps (BPTT keeps them for the backward pass; a lower
    bound, so a run that fits is never refused), against the run device's free memory."""
    batch_size, available = cfg.data.get("batch_size"), available_memory(run_device(cfg.trainer))
    steps = getattr(module.encoder, "T", None) if module.encoder is not None else len(batch[0])
    known = isinstance(batch_size, int) and isinstance(steps, int) and available is not None
    if not isinstance(module.learning, BPTT) or not known:
        return  # OTTT's memory does not grow with T
    need = activation_bytes(cfg, module, batch) / MEASURED_STEPS * batch_size * steps
    if "16" in str(cfg.trainer.get("precision", "32")):
        need /= 2  # mixed precision: activations in half precision
    if need > available:
        raise ConfigError(
            f"T={cfg.get('T', steps)}, data.batch_size={batch_size}: one training batch needs at least "
            f"{need / 2**30:,.1f} GiB of activations for BPTT, {available / 2**30:,.1f} GiB are available; lower T or "
            "data.batch_size, or use learning=ottt"
        )


def available_memory(device: torch.device) -> int | None:
    """Free bytes of ``device``: of the CUDA device, or ``MemAvailable`` of the machine (``None``: unknown)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        meminfo = Path("/proc/meminfo").read_text()
    except OSError:
        return None
    line = next((line for line in meminfo.splitlines() if line.startswith("MemAvailable:")), None)
    return int(line.split()[1]) * 1024 if line else None


def activation_bytes(cfg: DictConfig, module: SNNClassifier, batch: Any) -> int:
    """Bytes of every layer's output (each storage once) per sample of ``batch`` over ``MEASURED_STEPS`` time steps,
    in training mode on the run's device; 0 when the network does not run on so few steps (the dry run says why)."""
    x, y = batch
    encoder, device = module.encoder, run_device(cfg.trainer)
    if encoder is None:
        x = x[:MEASURED_STEPS]  # time-first data
    sizes: dict[int, int] = {}

    def record(_: Any, __: Any, output: Any) -> None:
        for t in output if isinstance(output, (tuple, list)) else (output,):
            if isinstance(t, torch.Tensor) and t.numel():
                key = t.untyped_storage().data_ptr()
                sizes[key] = max(sizes.get(key, 0), t.numel() * t.element_size())

    state, steps = copy.deepcopy(module.state_dict()), encoder.T if encoder is not None else None
    hooks = [m.register_forward_hook(record) for m in module.modules() if not list(m.children())]
    try:
        if encoder is not None:
            encoder.T = MEASURED_STEPS
        with torch.no_grad():
            module.to(device).train().compute_loss([x.to(device), y.to(device)])
    except Exception:
        return 0  # e.g. a norm built for exactly T steps
    finally:
        for hook in hooks:
            hook.remove()
        if encoder is not None:
            encoder.T = steps
        module.cpu().load_state_dict(state)
    return sum(sizes.values()) // len(y)


def try_network(cfg: DictConfig, module: SNNClassifier, batch: Any) -> None:
    """The network on two samples in training mode, on the run's device; errors name the node that built the layer."""
    state = copy.deepcopy(module.state_dict())
    device = run_device(cfg.trainer)
    try:
        with torch.no_grad():
            module.to(device).train().compute_loss([t.to(device) for t in batch])
    except Exception as e:
        error = runtime_error(cfg, e)
        raise error or ConfigError(f"the network fails on two training samples: {type(e).__name__}: {e}") from e
    finally:
        module.cpu().load_state_dict(state)

"""Reading a finished run back: its checkpoints, its stored config, and its trained classifier."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning
from omegaconf import DictConfig, OmegaConf

from snnlab.data.base import SNNDataModule
from snnlab.instantiate import ConfigError
from snnlab.training.module.classifier import SNNClassifier
from snnlab.training.run.build import build
from snnlab.training.run.preflight import load_checkpoint


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


def load_run(run_dir: str | Path, checkpoint: str = "best") -> tuple[SNNDataModule, SNNClassifier, Path]:
    """A run's data module, its classifier rebuilt from the stored config with the weights of ``checkpoint``
    (best, last or a path; in eval mode), and the checkpoint's path."""
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
    return datamodule, module.eval(), path

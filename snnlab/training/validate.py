"""Check a composed run config before anything is built, with messages that name the bad value and the
valid choices.  (Unknown group options are caught earlier by Hydra, which lists the valid ones.)"""

from __future__ import annotations

from typing import Any

import hydra.utils
from omegaconf import DictConfig

from snnlab.encoders import ENCODERS
from snnlab.kernels import BACKENDS
from snnlab.layers.base import STEP_MODES
from snnlab.models import DROPOUTS, NORMS, list_models
from snnlab.models.factories import MULTI_STEP_ONLY_NORMS
from snnlab.training.module import LOSSES
from snnlab.training.readout import READOUTS


class ConfigError(ValueError):
    """A run config that cannot work."""


def _choice(what: str, value: Any, valid: tuple[str, ...] | list[str]) -> None:
    if value not in valid:
        raise ConfigError(f"unknown {what} {value!r}; valid: {', '.join(map(str, valid))}")


def data_is_time_first(data_cfg: DictConfig) -> bool:
    """Whether the data module of ``data_cfg`` yields ``[T, B, ...]`` frames (read from its class)."""
    return bool(getattr(hydra.utils.get_class(data_cfg._target_), "time_first", False))


def validate_config(cfg: DictConfig) -> None:
    """Raise :class:`ConfigError` for the first problem found in ``cfg``."""
    T = cfg.T
    if isinstance(T, bool) or not isinstance(T, int) or T < 1:
        raise ConfigError(f"T must be a positive integer, got T={T!r}")
    _choice("step_mode", cfg.step_mode, STEP_MODES)
    _choice("backend", cfg.backend, BACKENDS)
    _choice("model", cfg.model.name, list_models())
    _choice("encoder", cfg.encoder.name, tuple(ENCODERS))
    _choice("loss", cfg.classifier.loss, LOSSES)
    _choice("readout", cfg.classifier.readout, READOUTS)
    if cfg.classifier.readout == "voting" and not (isinstance(cfg.classifier.votes, int) and cfg.classifier.votes > 0):
        raise ConfigError(f"classifier.votes must be a positive integer, got {cfg.classifier.votes!r}")

    norm = cfg.norm.name
    _choice("norm", norm, NORMS)
    if norm in MULTI_STEP_ONLY_NORMS and cfg.step_mode == "s":
        raise ConfigError(
            f"norm={norm} normalises over the whole sequence and runs only in step_mode=m, got step_mode=s; "
            f"norms that run in step_mode=s: {', '.join(n for n in NORMS if n not in MULTI_STEP_ONLY_NORMS)}"
        )
    if "T" in cfg.norm and cfg.norm.T != T:
        raise ConfigError(f"norm={norm} has norm.T={cfg.norm.T} but the run has T={T}; they must match")

    _choice("dropout", cfg.dropout.name, DROPOUTS)
    p = cfg.dropout.p
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
        raise ConfigError(f"dropout.p must be in [0, 1), got p={p!r}")

    if cfg.encoder.name != "direct" and data_is_time_first(cfg.data):
        raise ConfigError(
            f"encoder={cfg.encoder.name} cannot be used with event data ({cfg.data._target_} yields time-first "
            "frames, which go to the network unencoded); use encoder=direct"
        )

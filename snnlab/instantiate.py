"""The one helper that turns ``_target_`` config nodes into objects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import hydra.utils
from omegaconf import DictConfig, OmegaConf


def instantiate(node: Mapping[str, Any] | DictConfig, **kwargs: Any) -> Any:
    """Instantiate a ``_target_`` node (plain containers in, ``_partial_`` honoured); ``kwargs`` override."""
    if "_target_" not in node:
        raise ValueError(f"config node has no _target_: {OmegaConf.to_yaml(OmegaConf.create(dict(node)))}")
    return hydra.utils.instantiate(node, _convert_="all", **kwargs)


def instantiate_dict(nodes: Mapping[str, Any] | DictConfig | None) -> list[Any]:
    """Instantiate every ``_target_`` entry of a named group (callbacks, loggers); ``null`` entries are skipped."""
    return [instantiate(node) for node in (nodes or {}).values() if node is not None]

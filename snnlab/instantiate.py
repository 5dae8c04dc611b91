"""The one config mechanism: every config group is a ``_target_`` node, built by :func:`instantiate`.

``_target_`` is either the registered name of a component of the group's kind (``_target_: lif`` in the
``neuron`` group) or an import path (``_target_: torch.optim.SGD``, or a class of the user's own project).
The other keys are the target's keyword arguments; ``_partial_: true`` gives a factory instead of an object.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import hydra.utils
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf

from snnlab import registry


def target_path(target: str, kind: str | None = None) -> str:
    """The import path of ``target``: itself when dotted, else the component registered as ``kind``/``target``."""
    if "." in target:
        return target
    if kind is None:
        raise ValueError(f"_target_ {target!r} is not an import path (registered names work only in component groups)")
    obj = registry.get(kind, target)
    return f"{obj.__module__}.{obj.__qualname__}"


def instantiate(node: Mapping[str, Any] | DictConfig, kind: str | None = None, **kwargs: Any) -> Any:
    """Build a ``_target_`` node (plain containers in, ``_partial_`` honoured); ``kwargs`` override its keys.

    ``kind`` names the registry kind that short ``_target_`` names are looked up in.
    """
    if isinstance(node, DictConfig):
        node = OmegaConf.to_container(node, resolve=True)
    if "_target_" not in node:
        raise ValueError(f"config node has no _target_: {OmegaConf.to_yaml(OmegaConf.create(dict(node)))}")
    node = {**node, "_target_": target_path(node["_target_"], kind)}
    try:
        return hydra.utils.instantiate(node, _convert_="all", **kwargs)
    except InstantiationException as e:
        if isinstance(e.__cause__, (ValueError, TypeError)):
            raise e.__cause__ from None  # a bad value: the constructor's own message says what and why
        raise


def instantiate_dict(nodes: Mapping[str, Any] | DictConfig | None, kind: str | None = None) -> list[Any]:
    """Instantiate every ``_target_`` entry of a named group (callbacks, loggers); ``null`` entries are skipped."""
    return [instantiate(node, kind) for node in (nodes or {}).values() if node is not None]

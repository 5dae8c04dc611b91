"""The one config mechanism: every config group is a ``_target_`` node, built by :func:`instantiate`.

``_target_`` is either the registered name of a component of the group's kind (``_target_: lif`` in the
``neuron`` group) or an import path (``_target_: torch.optim.SGD``, or a class of the user's own project).
The other keys are the target's keyword arguments; ``_partial_: true`` gives a factory instead of an object.

A value the target rejects raises :class:`ConfigError`, whose message starts with the config key and the value
(``neuron.v_threshold='abc': LIF: v_threshold must be a real number, got 'abc'``): the constructor says what is
wrong, the group boundary here says where it was set.  Factories (``_partial_``) do the same when called.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import hydra.utils
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf

from snnlab import registry

CONSTRUCTOR_ERRORS = (ValueError, TypeError, RuntimeError, ArithmeticError, ImportError)
"""What a target raises for a bad argument (``ArithmeticError``: a division by a zero argument)."""


class ConfigError(ValueError):
    """A config value that its consumer rejected; the message names the key, the value and what is valid."""


def culprits(node: Mapping[str, Any], error: BaseException) -> list[str]:
    """The keys of ``node`` that ``error`` most likely points at: named in its message, else whose value it quotes,
    else (for a division by zero) the zero-valued ones."""
    message = str(error)
    keys = [k for k in node if k != "_partial_"]
    named = [k for k in keys if k != "_target_" and re.search(rf"(?<![\w.]){re.escape(k)}(?!\w)", message)]
    if named:
        return named
    quoted = [
        k
        for k in keys
        if isinstance(node[k], (int, float, str)) and not isinstance(node[k], bool) and str(node[k])
        if re.search(rf"(?<![\w.-]){re.escape(str(node[k]))}(?![\w.])", message)
    ]
    if quoted or not isinstance(error, ArithmeticError):
        return quoted
    return [k for k in keys if node[k] == 0 and not isinstance(node[k], bool)]


def config_error(path: str, node: Mapping[str, Any], error: BaseException) -> ConfigError:
    """``error`` as a :class:`ConfigError` prefixed with ``path.key=value`` (or ``path`` and its target)."""
    if isinstance(error, ConfigError):
        return error
    keys = culprits(node, error)
    if keys:
        where = ", ".join(f"{path}.{k}={node[k]!r}" for k in keys)
    else:
        where = f"{path} ({node.get('_target_', '?')})"
    text = str(error) if isinstance(error, (ValueError, TypeError)) else f"{type(error).__name__}: {error}"
    return ConfigError(f"{where}: {text}")


class CheckedFactory:
    """A ``_partial_`` target that reports a rejected argument like :func:`instantiate` does."""

    def __init__(self, factory: Any, path: str, node: Mapping[str, Any]) -> None:
        self.factory = factory
        self.path = path
        self.node = node

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self.factory(*args, **kwargs)
        except ConfigError:
            raise
        except CONSTRUCTOR_ERRORS as e:
            raise config_error(self.path, self.node, e) from e


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

    ``kind`` names the registry kind that short ``_target_`` names are looked up in.  A bad value raises
    :class:`ConfigError` naming the key (the node's path in the config, e.g. ``neuron``; else ``kind``).
    """
    path = kind or "config"
    if isinstance(node, DictConfig):
        path = node._get_full_key(None) or path
        node = OmegaConf.to_container(node, resolve=True)
    if "_target_" not in node:
        raise ConfigError(f"{path}: config node has no _target_: {OmegaConf.to_yaml(OmegaConf.create(dict(node)))}")
    try:
        spec = {**node, "_target_": target_path(node["_target_"], kind)}
        built = hydra.utils.instantiate(spec, _convert_="all", **kwargs)
    except InstantiationException as e:
        error: BaseException = e.__cause__ or e
    except CONSTRUCTOR_ERRORS as e:
        error = e
    else:
        return CheckedFactory(built, path, node) if node.get("_partial_") else built
    if isinstance(error, ConfigError):
        raise error
    raise config_error(path, node, error) from error


def instantiate_dict(nodes: Mapping[str, Any] | DictConfig | None, kind: str | None = None) -> list[Any]:
    """Instantiate every ``_target_`` entry of a named group (callbacks, loggers); ``null`` entries are skipped."""
    return [instantiate(node, kind) for node in (nodes or {}).values() if node is not None]

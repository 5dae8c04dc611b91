"""The one config mechanism: every choosable thing is a ``_target_`` node, built by :func:`instantiate`.

``_target_`` is either the registered name of a component of the node's kind (``_target_: lif`` in the ``neuron``
group) or an import path (``_target_: torch.optim.SGD``, or a class of the user's own project).  The other keys are
the target's keyword arguments.  A key named after a registered kind holds a nested node of that kind
(``neuron.surrogate: {_target_: atan, alpha: 2.0}``), built first and passed as an object.  ``_partial_: true``
gives a factory (a :class:`Component`) instead of an object.

Errors are tied to config keys by structure, never guessed from a message: whatever a node's construction raises
(or a call of its factory, or a method of the object it built) names that node's path; an
:class:`~snnlab.validate.InvalidArgument` names the argument, so the message starts with the key and the value
(``model.hidden=[0]: mlp: hidden=[0]: must be a list of integers >= 1``).  A value interpolated from another key
names that key first (``T=0 (as encoder.T): ...``).  Modules a node builds remember its path
(:data:`CONFIG_NODE`), so an error raised later, in a forward pass, names the node too (:func:`runtime_error`).
"""

from __future__ import annotations

import functools
import inspect
import re
import traceback
from collections.abc import Callable, Mapping
from typing import Any

import hydra.utils
from lightning.fabric.utilities.exceptions import MisconfigurationException
from omegaconf import DictConfig, OmegaConf
from torch import nn

from snnlab import registry
from snnlab.validate import InvalidArgument

CONSTRUCTOR_ERRORS = (
    ValueError,
    TypeError,
    RuntimeError,
    ArithmeticError,
    ImportError,
    AttributeError,
    MisconfigurationException,
)
"""What a target raises for a bad argument (Lightning's own kind included)."""
CONFIG_NODE = "config_node"
"""Attribute of a module that names the config node that built it."""
_INTERPOLATION = re.compile(r"^\$\{([\w.]+)\}$")


class ConfigError(ValueError):
    """A config value that its consumer rejected; the message names the key, the value and what is valid."""


def _parameters(target: Any) -> tuple[list[inspect.Parameter], bool]:
    """The named parameters ``target`` takes: of a function, or of the ``__init__`` of a class and of the bases its
    ``**kwargs`` reach; and whether it takes any other keyword (a ``**kwargs`` that reaches no named parameter)."""
    functions = (
        [c.__dict__["__init__"] for c in target.__mro__ if "__init__" in c.__dict__]
        if isinstance(target, type)
        else [target]
    )
    found: list[inspect.Parameter] = []
    for function in functions:
        try:
            params = list(inspect.signature(function).parameters.values())
        except (TypeError, ValueError):
            return found, True
        found += [p for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name != "self"]
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            return found, False
    return found, True


def parameter_names(target: Any) -> list[str]:
    """The keyword arguments ``target`` takes by name (a class: its ``__init__`` and the bases it passes on to)."""
    return list(dict.fromkeys(p.name for p in _parameters(target)[0]))


def check_keys(path: str, node: Mapping[str, Any], target: Any) -> None:
    """Raise :class:`ConfigError` for keys of ``node`` that ``target`` takes no argument for, listing those it takes.

    Typical cause: an experiment sets keys for its own data (``data.size`` of event frames) and the command line
    swaps the data module; ``~path.key`` drops a key."""
    names = parameter_names(target)
    unknown = [k for k in node if not k.startswith("_") and k not in names]
    if unknown and not _parameters(target)[1]:
        where = ", ".join(f"{path}.{k}={node[k]!r}" for k in unknown)
        drop = " ".join(f"~{path}.{k}" for k in unknown if node[k] is not None)
        nulls = [k for k in unknown if node[k] is None]  # Hydra cannot delete a key whose value is null
        how = (f"; drop the key with {drop}" if drop else "") + (
            f"; remove {', '.join(nulls)} from the config file that sets it" if nulls else ""
        )
        raise ConfigError(
            f"{where}: {getattr(target, '__name__', target)} takes no such argument (it takes: {', '.join(names)}){how}"
        )


def target_path(target: str, kind: str | None = None) -> str:
    """The import path of ``target``: itself when dotted, else the component registered as ``kind``/``target``."""
    if "." in target:
        return target
    if kind is None:
        raise ValueError(f"_target_ {target!r} is not an import path (registered names work only in component groups)")
    obj = registry.get(kind, target)
    return f"{obj.__module__}.{obj.__qualname__}"


def _resolve(path: str, node: Mapping[str, Any], kind: str | None) -> Any:
    name = node["_target_"]
    try:
        return hydra.utils.get_object(target_path(str(name), kind))
    except Exception as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(f"{path}._target_={name!r}: {reason}") from e


def _source(raw: Mapping[str, Any] | None, key: str) -> str | None:
    """The key ``raw[key]`` is interpolated from (``${T}`` → ``T``), or ``None``."""
    value = raw.get(key) if isinstance(raw, Mapping) else None
    match = _INTERPOLATION.match(value) if isinstance(value, str) else None
    return match.group(1) if match else None


_MISSING = object()


def _lookup(node: Mapping[str, Any], key: str) -> Any:
    """``node[key]``, following dots into nested nodes (``stem.pools_at``); :data:`_MISSING` when absent."""
    value: Any = node
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def config_error(
    path: str, node: Mapping[str, Any], error: BaseException, raw: Mapping[str, Any] | None = None
) -> ConfigError:
    """``error``, raised by the node at ``path``, as a :class:`ConfigError` that names the node (and, for an
    :class:`~snnlab.validate.InvalidArgument` of one of its keys, the key and its value; a dotted argument,
    ``stem.input``, names a key of a nested node)."""
    if isinstance(error, ConfigError):
        return error
    if isinstance(error, InvalidArgument) and (value := _lookup(node, error.argument)) is not _MISSING:
        key = error.argument
        source = _source(raw, key)
        where = f"{source}={value!r} (as {path}.{key})" if source else f"{path}.{key}={value!r}"
        return ConfigError(f"{where}: {error.expected}")
    target = node.get("_target_")
    text = str(error) if isinstance(error, (ValueError, TypeError)) else f"{type(error).__name__}: {error}"
    return ConfigError(f"{path}{f' ({target})' if target else ''}: {text}")


def _tag(built: Any, path: str) -> Any:
    """Mark the modules in ``built`` (those not marked yet) as built by the node at ``path``."""
    if isinstance(built, nn.Module):
        for m in built.modules():
            if CONFIG_NODE not in m.__dict__:
                m.__dict__[CONFIG_NODE] = path
    return built


class Component:
    """What a node built, or (``_partial_``) a factory of it, whose calls and method calls tie their errors to the
    node and mark the modules they return with its path (:data:`CONFIG_NODE`)."""

    def __init__(self, obj: Any, path: str, node: Mapping[str, Any], raw: Mapping[str, Any] | None = None) -> None:
        self._obj, self._path, self._node, self._raw = obj, path, node, raw

    def _run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return _tag(fn(*args, **kwargs), self._path)
        except CONSTRUCTOR_ERRORS as e:
            raise config_error(self._path, self._node, e, self._raw) from e

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._run(self._obj, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._obj, name)
        return functools.partial(self._run, attr) if callable(attr) else attr

    def __repr__(self) -> str:
        return f"Component({self._path}: {self._obj!r})"


def key_kind(key: str) -> str | None:
    """The registry kind a key names: the key itself, or the kind it ends in after an ``_`` (``early_token_mixer``)."""
    return next((kind for kind in registry.kinds() if key == kind or key.endswith(f"_{kind}")), None)


def _nested(key: str, value: Any, raw: Any, path: str) -> Any:
    """The value of ``key``: a nested ``_target_`` node is built (looked up in the kind ``key`` names, see
    :func:`key_kind`); a bare name or ``{name: ...}`` of a kind's component is refused, showing the node spelling."""
    kind = key_kind(key)
    if isinstance(value, Mapping) and "_target_" in value:
        return _build(value, raw, path, kind, {})
    name = value.get("name") if isinstance(value, Mapping) else value
    if kind and isinstance(name, str) and name in registry.names(kind) and callable(registry.get(kind, name)):
        args = "".join(f", {k}: {v}" for k, v in value.items() if k != "name") if isinstance(value, Mapping) else ""
        raise ConfigError(
            f"{path}={value!r}: a {kind} is chosen by a _target_ node: {path}={{_target_: {name}{args}}} "
            f"(`snnlab list` shows the {kind} components)"
        )
    return value


def _build(node: Mapping[str, Any], raw: Any, path: str, kind: str | None, overrides: Mapping[str, Any]) -> Any:
    if "_target_" not in node:
        raise ConfigError(f"{path}: config node has no _target_: {OmegaConf.to_yaml(OmegaConf.create(dict(node)))}")
    target = _resolve(path, node, kind)
    check_keys(path, node, target)
    raw = raw if isinstance(raw, Mapping) else {}
    args = {k: _nested(k, v, raw.get(k), f"{path}.{k}") for k, v in node.items() if not k.startswith("_")}
    args.update(overrides)
    if node.get("_partial_"):
        return Component(functools.partial(target, **args), path, node, raw)
    return Component(target, path, node, raw)(**args)


def instantiate(node: Mapping[str, Any] | DictConfig, kind: str | None = None, **kwargs: Any) -> Any:
    """Build a ``_target_`` node (nested nodes first; ``_partial_`` gives a factory); ``kwargs`` override its keys.

    ``kind`` names the registry kind that short ``_target_`` names are looked up in.  A bad value raises
    :class:`ConfigError` naming the key (the node's path in the config, e.g. ``neuron``; else ``kind``).
    """
    path, raw = kind or "config", None
    if isinstance(node, DictConfig):
        path = node._get_full_key(None) or path
        raw = OmegaConf.to_container(node, resolve=False)
        node = OmegaConf.to_container(node, resolve=True)
    return _build(dict(node), raw, path, kind, kwargs)


def traced(node: DictConfig, built: Any) -> Component:
    """``built`` (the object the node ``node`` built) as a :class:`Component`: errors of its method calls name
    the node, and the modules its methods make remember it (for factories such as a norm's ``pre(channels)``)."""
    return Component(built, node._get_full_key(None), OmegaConf.to_container(node, resolve=True),
                     OmegaConf.to_container(node))  # fmt: skip


def instantiate_dict(nodes: Mapping[str, Any] | DictConfig | None, kind: str | None = None) -> list[Any]:
    """Instantiate every ``_target_`` entry of a named group (callbacks, loggers); ``null`` entries are skipped."""
    return [instantiate(node, kind) for node in (nodes or {}).values() if node is not None]


def runtime_error(cfg: DictConfig, error: BaseException) -> ConfigError | None:
    """An error raised while a built network ran, as a :class:`ConfigError` of the config node that built the
    innermost module in its traceback (see :data:`CONFIG_NODE`); ``None`` when no such module ran."""
    if isinstance(error, ConfigError):
        return error
    modules = [f.f_locals.get("self") for f, _ in traceback.walk_tb(error.__traceback__)]
    path = next((m.__dict__[CONFIG_NODE] for m in reversed(modules) if isinstance(m, nn.Module)
                 and CONFIG_NODE in m.__dict__), None)  # fmt: skip
    if path is None:
        return None
    node = OmegaConf.select(cfg, path)
    if not isinstance(node, DictConfig):
        return ConfigError(f"{path}: {error}")
    return config_error(path, OmegaConf.to_container(node, resolve=True), error, OmegaConf.to_container(node))

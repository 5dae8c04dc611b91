"""The one config mechanism: every config group is a ``_target_`` node, built by :func:`instantiate`.

``_target_`` is either the registered name of a component of the group's kind (``_target_: lif`` in the
``neuron`` group) or an import path (``_target_: torch.optim.SGD``, or a class of the user's own project).
The other keys are the target's keyword arguments; ``_partial_: true`` gives a factory instead of an object.

A value the target rejects raises :class:`ConfigError`, whose message starts with the config key and the value
(``neuron.v_threshold='abc': LIF: v_threshold must be a real number, got 'abc'``): the constructor says what is
wrong, the group boundary here says where it was set.  Where several groups meet (a model builder calls the neuron,
norm and dropout factories), :func:`config_error_in` finds the group whose target raised.
"""

from __future__ import annotations

import inspect
import re
import traceback
from collections.abc import Mapping, Sequence
from typing import Any

import hydra.utils
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf

from snnlab import registry

CONSTRUCTOR_ERRORS = (ValueError, TypeError, RuntimeError, ArithmeticError, ImportError)
"""What a target raises for a bad argument (``ArithmeticError``: a division by a zero argument)."""


class ConfigError(ValueError):
    """A config value that its consumer rejected; the message names the key, the value and what is valid."""


def _scalar(value: Any) -> bool:
    return isinstance(value, (int, float, str)) and not isinstance(value, bool)


def target_of(node: Mapping[str, Any], kind: str | None = None) -> Any:
    """The class or function a node's ``_target_`` names; ``None`` when it names none."""
    try:
        return hydra.utils.get_object(target_path(str(node["_target_"]), kind))
    except Exception:
        return None


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


def annotations(target: Any) -> dict[str, str]:
    """The parameter annotations of a function, or of a class's ``__init__`` and the bases it passes on to, as text."""
    params = reversed(_parameters(target)[0])  # the class's own annotation wins over a base's
    return {p.name: str(p.annotation) for p in params if p.annotation is not p.empty}


def check_keys(path: str, node: Mapping[str, Any], target: Any) -> None:
    """Raise :class:`ConfigError` for keys of ``node`` that ``target`` takes no argument for, listing those it takes.

    Typical cause: an experiment sets keys for its own data (``data.size`` of event frames) and the command line
    swaps the data module; ``~path.key`` drops a key."""
    params, open_ended = _parameters(target)
    names = [p.name for p in params]
    unknown = [k for k in node if not k.startswith("_") and k not in names]
    if unknown and not open_ended:
        where = ", ".join(f"{path}.{k}={node[k]!r}" for k in unknown)
        drop = " ".join(f"~{path}.{k}" for k in unknown if node[k] is not None)
        nulls = [k for k in unknown if node[k] is None]  # Hydra cannot delete a key whose value is null
        how = (f"; drop the key with {drop}" if drop else "") + (
            f"; remove {', '.join(nulls)} from the config file that sets it" if nulls else ""
        )
        raise ConfigError(
            f"{where}: {getattr(target, '__name__', target)} takes no such argument (it takes: "
            f"{', '.join(dict.fromkeys(names))}){how}"
        )


def culprits(node: Mapping[str, Any], error: BaseException, target: Any = None) -> list[str]:
    """The keys of ``node`` that ``error`` points at: named in its message; else whose value it quotes (the longest
    such value); else the zero ones for a division by zero, or the strings where ``target`` takes no string."""
    message = str(error)
    keys = [k for k in node if k != "_partial_"]
    named = [k for k in keys if k != "_target_" and re.search(rf"(?<![\w.]){re.escape(k)}(?!\w)", message)]
    if named:
        return named
    quoted = [
        k
        for k in keys
        if _scalar(node[k]) and str(node[k]) and re.search(rf"(?<![\w.-]){re.escape(str(node[k]))}(?![\w.])", message)
    ]
    if quoted:
        longest = max(len(str(node[k])) for k in quoted)
        return [k for k in quoted if len(str(node[k])) == longest]
    if isinstance(error, ArithmeticError):
        zeros = [k for k in keys if _scalar(node[k]) and node[k] == 0]
        return [k for k in zeros if isinstance(node[k], int)] or zeros
    if isinstance(error, TypeError) or re.search(r"\bstr\b", message):  # a string where a number belongs
        expected = annotations(target) if target is not None else {}
        return [k for k in keys if k != "_target_" and isinstance(node[k], str) and "str" not in expected.get(k, "")]
    return []


def config_error(path: str, node: Mapping[str, Any], error: BaseException, target: Any = None) -> ConfigError:
    """``error`` as a :class:`ConfigError` prefixed with ``path.key=value`` (or ``path`` and its target)."""
    if isinstance(error, ConfigError):
        return error
    keys = culprits(node, error, target)
    where = ", ".join(f"{path}.{k}={node[k]!r}" for k in keys) or f"{path} ({node.get('_target_')})"
    text = str(error) if isinstance(error, (ValueError, TypeError)) else f"{type(error).__name__}: {error}"
    if isinstance(error, ArithmeticError) and keys and all(node[k] == 0 for k in keys):
        text += f" ({'these values' if len(keys) > 1 else 'the value'} must not be 0)"
    return ConfigError(f"{where}: {text}")


def raised_in(error: BaseException, target: Any) -> int:
    """How deep in ``error``'s traceback ``target`` (a class's method or a function) ran; -1 if it did not."""
    code = getattr(target, "__code__", None)
    depth = -1
    for i, (frame, _) in enumerate(traceback.walk_tb(error.__traceback__)):
        owner = frame.f_locals.get("self")
        if frame.f_code is code or (isinstance(target, type) and isinstance(owner, target)):
            depth = i
    return depth


def config_error_in(
    cfg: DictConfig, groups: Sequence[str], error: BaseException, default: str | None = None
) -> ConfigError | None:
    """``error`` as a :class:`ConfigError` of the one of ``groups`` (config keys) it comes from: of the groups whose
    target ran in its traceback, the innermost whose values it points at, else any group whose values it points
    at, else the innermost that ran, else ``default`` (``None``: no such group).  For errors raised where several
    groups meet: a model builder calls the neuron, norm and dropout factories."""
    if isinstance(error, ConfigError):
        return error
    nodes = {g: OmegaConf.to_container(cfg[g], resolve=True) for g in groups if isinstance(cfg.get(g), DictConfig)}
    targets = {g: target_of(values, g) for g, values in nodes.items()}
    depths = {g: raised_in(error, t) for g, t in targets.items() if t is not None}
    ran = sorted((g for g in depths if depths[g] >= 0), key=depths.get, reverse=True)  # innermost first
    named = [g for g in [*ran, *nodes] if culprits(nodes[g], error, targets[g])]
    group = next(iter(named + ran), default)
    return config_error(group, nodes.get(group, {}), error, targets.get(group)) if group else None


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
        check_keys(path, node, hydra.utils.get_object(spec["_target_"]))
        built = hydra.utils.instantiate(spec, _convert_="all", **kwargs)
    except InstantiationException as e:
        error: BaseException = e.__cause__ or e
    except CONSTRUCTOR_ERRORS as e:
        error = e
    else:
        return built
    if isinstance(error, ConfigError):
        raise error
    raise config_error(path, node, error, target_of(node, kind)) from error


def instantiate_dict(nodes: Mapping[str, Any] | DictConfig | None, kind: str | None = None) -> list[Any]:
    """Instantiate every ``_target_`` entry of a named group (callbacks, loggers); ``null`` entries are skipped."""
    return [instantiate(node, kind) for node in (nodes or {}).values() if node is not None]

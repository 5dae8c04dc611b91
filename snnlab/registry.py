"""The one registry: every selectable component is registered under a kind and a short name.

Kinds: ``surrogate``, ``backend``, ``neuron``, ``norm``, ``dropout``, ``encoder``, ``readout``, ``loss``,
``model``, ``data`` (and whatever a later part adds).  ``register(kind)`` is a decorator (or a plain call for
objects that are not classes or functions), ``get(kind, name)`` looks a name up, ``build(kind, name, **kwargs)``
calls what is registered, ``names(kind)`` lists a kind.  An unknown name raises :class:`UnknownComponentError`
listing the valid names.  This module imports nothing from snnlab: every other part may register here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_ENTRIES: dict[str, dict[str, Any]] = {}


class UnknownComponentError(ValueError):
    """A name that is not registered for its kind."""


def register(kind: str, name: str | None = None, obj: Any = None) -> Any:
    """Register ``obj`` as ``kind``/``name`` (``name`` defaults to the lower-cased ``__name__``).

    Without ``obj`` this returns a decorator: ``@register("model")`` on a builder function.
    """
    if obj is None:
        return lambda target: register(kind, name, target)
    key = name or obj.__name__.lower()
    table = _ENTRIES.setdefault(kind, {})
    if key in table and table[key] is not obj:
        raise ValueError(f"{kind} {key!r} is already registered (as {table[key]!r})")
    table[key] = obj
    return obj


def kinds() -> list[str]:
    """Every kind that has at least one registered component, sorted."""
    return sorted(_ENTRIES)


def names(kind: str) -> list[str]:
    """The registered names of ``kind``, sorted (an unknown kind lists the known kinds)."""
    if kind not in _ENTRIES:
        raise UnknownComponentError(f"unknown component kind {kind!r}; valid: {', '.join(kinds())}")
    return sorted(_ENTRIES[kind])


def get(kind: str, name: str) -> Any:
    """What is registered as ``kind``/``name``."""
    valid = names(kind)
    if name not in _ENTRIES[kind]:
        raise UnknownComponentError(f"unknown {kind} {name!r}; valid: {', '.join(valid)}")
    return _ENTRIES[kind][name]


def build(kind: str, name: str, **kwargs: Any) -> Any:
    """Call the component registered as ``kind``/``name`` with ``kwargs``."""
    factory: Callable[..., Any] = get(kind, name)
    return factory(**kwargs)

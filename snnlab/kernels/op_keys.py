"""String keys for what the fused backends' custom operators take besides tensors.

A custom operator (``torch.library.custom_op``) takes tensors and plain values only, so a neuron declaration
(and, for the CUDA kernels, the launcher that runs them) reaches it as a string: :func:`declaration_key` gives a
declaration's key (its class path and ``repr``, readable in a compiled graph and the same in every process) and
remembers the declaration under it; :func:`declaration` looks it up inside the operator.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from functools import cache
from typing import Any

import torch

from snnlab.math.dynamics import NeuronDynamics

_DECLARATIONS: dict[str, NeuronDynamics] = {}
_LAUNCHERS: weakref.WeakValueDictionary[str, Callable[..., Any]] = weakref.WeakValueDictionary()


@torch.compiler.assume_constant_result  # torch.compile calls it while tracing and keeps the string
def declaration_key(dyn: NeuronDynamics) -> str:
    """The key of ``dyn`` (a suffix tells apart unequal declarations whose ``repr`` is the same)."""
    return _key(dyn)


@cache
def _key(dyn: NeuronDynamics) -> str:
    base = f"{type(dyn).__module__}.{dyn!r}"
    key, n = base, 1
    while _DECLARATIONS.setdefault(key, dyn) != dyn:
        key, n = f"{base}#{n}", n + 1
    return key


@torch.compiler.assume_constant_result  # torch.compile builds the declaration while tracing, guarded by its fields
def declaration_of(cls: type[NeuronDynamics], *fields: Any, options: dict[str, Any]) -> str:
    """The key of the declaration ``cls(*fields, **options)``."""
    return _key(cls(*fields, **options))


def declaration(key: str) -> NeuronDynamics:
    """The declaration registered under ``key`` by :func:`declaration_key`."""
    return _DECLARATIONS[key]


def launcher_key(launch: Callable[..., Any]) -> str:
    """The key of a kernel launcher, held while the launcher lives (a module-level one: for good)."""
    key = f"{launch.__module__}.{launch.__qualname__}@{id(launch):x}"
    _LAUNCHERS[key] = launch
    return key


def launcher_of(key: str) -> Callable[..., Any]:
    """The launcher registered under ``key`` by :func:`launcher_key`."""
    return _LAUNCHERS[key]

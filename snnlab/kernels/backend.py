"""Multi-step backends as registered components, and the choice among them.

A backend implements ``multi_step(dyn, x_seq, states, params, store_v_seq) -> (s_seq, last states, v_seq or
None)`` for a neuron declaration ``dyn`` (its states and parameters in declared order) and tensors of some
device types and dtypes.  ``backend="auto"`` takes the first available backend in
:data:`AUTO_ORDER` that runs on the input's device and dtype.  An explicit backend that cannot run raises with
the reason and the fix: there is never a silent fallback.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from snnlab import registry
from snnlab.validate import InvalidArgument

AUTO = "auto"
AUTO_ORDER = ("cupy", "cpu", "torch")
"""Preference of ``backend="auto"`` (names not registered are skipped)."""

MultiStep = Callable[..., tuple[torch.Tensor, tuple[torch.Tensor, ...], torch.Tensor | None]]
_LOADED: dict[str, MultiStep] = {}


@dataclass(frozen=True)
class Backend:
    """One implementation of the multi-step neuron loop.

    ``module`` holds its ``multi_step`` function and is imported on first use, so a backend whose optional
    dependency is missing can be listed and explained without importing it.  ``unavailable()`` gives the reason
    it cannot run on this machine (``None`` when it can) and ``hint`` the fix.  ``dtypes`` limits the input
    dtypes (``None``: any).
    """

    name: str
    devices: tuple[str, ...]
    module: str
    unavailable: Callable[[], str | None] = field(default=lambda: None)
    hint: str = ""
    dtypes: tuple[torch.dtype, ...] | None = None

    def runs_on(self, device: torch.device, dtype: torch.dtype) -> bool:
        return device.type in self.devices and (self.dtypes is None or dtype in self.dtypes)

    def check(self, device: torch.device | str, dtype: torch.dtype | None = None) -> None:
        """Raise :class:`~snnlab.validate.InvalidArgument` (argument ``backend``) unless this backend runs on
        ``device`` (and ``dtype``) here."""
        device = torch.device(device)
        if device.type not in self.devices:
            raise InvalidArgument(
                "backend", self.name, f"runs on {'/'.join(self.devices)} tensors, not on the {device.type}; use auto"
            )
        if dtype is not None and self.dtypes is not None and dtype not in self.dtypes:
            names = ", ".join(str(d).removeprefix("torch.") for d in self.dtypes)
            raise InvalidArgument(
                "backend", self.name, f"runs on {names} tensors, not {str(dtype).removeprefix('torch.')}; use auto"
            )
        reason = self.unavailable()
        if reason is not None:
            raise InvalidArgument("backend", self.name, f"unavailable here: {reason}; {self.hint}")

    @property
    def multi_step(self) -> MultiStep:
        return importlib.import_module(self.module).multi_step


def register_backend(backend: Backend) -> Backend:
    return registry.register("backend", backend.name, backend)


def check_backend(name: str) -> str:
    """``name`` if it is ``"auto"`` or a registered backend, else an error listing the valid names."""
    valid = registry.names("backend")
    if name != AUTO and name not in valid:
        raise InvalidArgument("backend", name, f"unknown neuron backend; valid: {AUTO}, {', '.join(valid)}")
    return name


def resolve_backend(name: str, x: torch.Tensor) -> Backend:
    """The backend that runs ``name`` on ``x`` (``auto``: the preferred available one for ``x``'s device)."""
    return _resolve(name, x.device, x.dtype)


def multi_step_for(name: str, x: torch.Tensor) -> MultiStep:
    """``resolve_backend(name, x).multi_step``, which ``torch.compile`` looks up while tracing (its guards on
    ``name`` and on ``x``'s device and dtype keep it right)."""
    return _LOADED[_load(name, x.device, x.dtype)]


@torch.compiler.assume_constant_result
def _load(name: str, device: torch.device, dtype: torch.dtype) -> str:
    """The name of the backend that runs ``name`` here, its ``multi_step`` loaded into :data:`_LOADED`."""
    backend = _resolve(name, device, dtype)
    _LOADED[backend.name] = backend.multi_step
    return backend.name


def _resolve(name: str, device: torch.device, dtype: torch.dtype) -> Backend:
    if check_backend(name) != AUTO:
        backend = registry.get("backend", name)
        backend.check(device, dtype)
        return backend
    candidates = [registry.get("backend", n) for n in AUTO_ORDER if n in registry.names("backend")]
    return next(b for b in candidates if b.runs_on(device, dtype) and b.unavailable() is None)

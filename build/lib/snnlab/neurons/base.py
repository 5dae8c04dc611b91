"""``BaseNode``: the stateful spiking-neuron module shared by IF, LIF, PLIF and RIF."""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Real
from typing import Any, ClassVar

import torch

from snnlab.base import MemoryModule
from snnlab.kernels import check_backend, resolve_backend
from snnlab.math.dynamics import NeuronDynamics
from snnlab.math.surrogate import Surrogate, get_surrogate

SurrogateSpec = str | Surrogate | Mapping[str, Any] | None


def _check_real(owner: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{owner}: {name} must be a real number, got {value!r}")
    return float(value)


class BaseNode(MemoryModule):
    """Charge → fire → reset, with membrane state ``v`` kept between steps until :meth:`reset`.

    Args:
        v_threshold: firing threshold ``V_th``.
        v_reset: hard-reset potential; ``None`` selects soft reset (subtract ``V_th``).
        surrogate: surrogate gradient, as a name, a :class:`~snnlab.math.surrogate.Surrogate` or
            ``{"name": ..., **params}``; default ``sigmoid(alpha=4)``.
        detach_reset: detach the spike in the reset path.
        step_mode: ``"s"`` (one ``[B, ...]`` step per call) or ``"m"`` (``[T, B, ...]`` per call).
        backend: multi-step backend: ``"auto"`` (default: the fused ``cupy`` kernels for CUDA tensors when CuPy
            works, the fused ``cpu`` kernels for CPU tensors, ``torch`` otherwise), ``"torch"`` (the reference
            loop), ``"cpu"`` or ``"cupy"`` (see :mod:`snnlab.kernels`).
        store_v_seq: in mode ``m``, keep every step's membrane potential in ``v_seq`` (``[T, B, ...]``).
    """

    kind: ClassVar[str]
    decay_input: bool = True

    def __init__(
        self,
        v_threshold: float = 1.0,
        v_reset: float | None = 0.0,
        surrogate: SurrogateSpec = None,
        detach_reset: bool = False,
        step_mode: str = "s",
        backend: str = "auto",
        store_v_seq: bool = False,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        self.v_threshold = _check_real(owner, "v_threshold", v_threshold)
        if v_reset is not None:
            v_reset = _check_real(owner, "v_reset", v_reset)
            if v_reset >= self.v_threshold:
                raise ValueError(f"{owner}: v_reset ({v_reset}) must be below v_threshold ({self.v_threshold})")
        self.v_reset = v_reset
        self.surrogate = get_surrogate(surrogate)
        self.detach_reset = bool(detach_reset)
        self.step_mode = step_mode
        self.backend = backend
        self.store_v_seq = bool(store_v_seq)
        self.register_memory("v", self.v_init)
        self.register_memory("v_seq", None)

    @property
    def backend(self) -> str:
        return self._backend

    @backend.setter
    def backend(self, name: str) -> None:
        self._backend = check_backend(name)

    @property
    def v_init(self) -> float:
        """Membrane potential after :meth:`reset`."""
        return 0.0 if self.v_reset is None else self.v_reset

    @property
    def theta(self) -> torch.Tensor | float | None:
        """The scalar parameter of the charge equation (``1/τ`` or ``w``); ``None`` for IF."""
        return None

    @property
    def dynamics(self) -> NeuronDynamics:
        return NeuronDynamics(
            self.kind, self.v_threshold, self.v_reset, self.detach_reset, self.decay_input, self.surrogate
        )

    def single_step_forward(self, x: torch.Tensor) -> torch.Tensor:
        v = self.state_like("v", x)
        s, self.v, _ = self.dynamics.step(x, v, self.theta)
        return s

    def multi_step_forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        if x_seq.dim() < 2:
            raise ValueError(
                f"{type(self).__name__} in step mode 'm' expects [T, B, ...], got shape {tuple(x_seq.shape)}"
            )
        v = self.state_like("v", x_seq[0])
        run = resolve_backend(self.backend, x_seq).multi_step
        s_seq, self.v, v_seq = run(self.dynamics, x_seq, v, self.theta, self.store_v_seq)
        if self.store_v_seq:
            self.v_seq = v_seq
        return s_seq

    def extra_repr(self) -> str:
        reset = "soft" if self.v_reset is None else f"v_reset={self.v_reset:g}"
        return (
            f"v_threshold={self.v_threshold:g}, {reset}, surrogate={self.surrogate}, "
            f"detach_reset={self.detach_reset}, backend={self.backend}, {super().extra_repr()}"
        )

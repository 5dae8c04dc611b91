"""``BaseNode``: the stateful spiking-neuron module that runs a neuron declaration
(:class:`~snnlab.math.dynamics.NeuronDynamics`)."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from snnlab.base import MemoryModule
from snnlab.kernels import check_backend, multi_step_for
from snnlab.kernels.op_keys import declaration, declaration_of
from snnlab.math.dynamics import MEMBRANE, NeuronDynamics
from snnlab.math.surrogate import Surrogate, get_surrogate
from snnlab.validate import InvalidArgument, boolean, real


class BaseNode(MemoryModule):
    """Charge → fire → reset of the declaration :attr:`Dynamics`, with one memory per declared state (the membrane
    ``v`` among them) kept between steps until :meth:`reset`.

    A subclass sets :attr:`Dynamics` and provides :meth:`dynamics_options` (the values of the declaration's own
    fields) and :meth:`param_values` (each declared parameter's value: a float, or a tensor that may be
    learnable, e.g. ``self.w.sigmoid()``; a per-channel one has shape ``[C]``).

    Args:
        v_threshold: firing threshold ``V_th``.
        v_reset: hard-reset potential; ``None`` selects soft reset (subtract the threshold).
        surrogate: surrogate gradient, a :class:`~snnlab.math.surrogate.Surrogate` (e.g. ``ATan(alpha=2)``) or
            ``None`` for the default ``Sigmoid(alpha=4)``.
        detach_reset: detach the spike in the reset path (every state's post-spike update).
        step_mode: ``"s"`` (one ``[B, ...]`` step per call) or ``"m"`` (``[T, B, ...]`` per call).
        backend: multi-step backend: ``"auto"`` (default: the fused ``cupy`` kernels for CUDA tensors when CuPy
            works, the fused ``cpu`` kernels for CPU tensors, ``torch`` otherwise), ``"torch"`` (the reference
            loop), ``"cpu"`` or ``"cupy"`` (see :mod:`snnlab.kernels`).
        store_v_seq: in mode ``m``, keep every step's membrane potential in ``v_seq`` (``[T, B, ...]``).
    """

    Dynamics: ClassVar[type[NeuronDynamics]]

    def __init__(
        self,
        v_threshold: float = 1.0,
        v_reset: float | None = 0.0,
        surrogate: Surrogate | None = None,
        detach_reset: bool = False,
        step_mode: str = "s",
        backend: str = "auto",
        store_v_seq: bool = False,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        self.v_threshold = real(v_threshold, "v_threshold", owner)
        if v_reset is not None:
            v_reset = real(v_reset, "v_reset", owner)
            if v_reset >= self.v_threshold:
                raise InvalidArgument("v_reset", v_reset, f"must be below v_threshold ({self.v_threshold:g})", owner)
        self.v_reset = v_reset
        self.surrogate = get_surrogate(surrogate)
        self.detach_reset = boolean(detach_reset, "detach_reset", owner)
        self.step_mode = step_mode
        self.backend = backend
        self.store_v_seq = boolean(store_v_seq, "store_v_seq", owner)
        for state in self.Dynamics.states:
            self.register_memory(state.name, self.v_init if state.name == MEMBRANE else state.init)
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

    def dynamics_options(self) -> dict[str, Any]:
        """Values of the declaration's own fields (beyond threshold, reset, ``detach_reset`` and surrogate)."""
        return {}

    def param_values(self) -> dict[str, Any]:
        """The value of each declared parameter, by name."""
        return {}

    @property
    def dynamics(self) -> NeuronDynamics:
        """The declaration with this module's current options (the backends' kernel-cache key), looked up by key
        so that ``torch.compile`` builds it while tracing (see :mod:`snnlab.kernels.op_keys`)."""
        fields = self.v_threshold, self.v_reset, self.detach_reset, self.surrogate
        return declaration(declaration_of(self.Dynamics, *fields, options=self.dynamics_options()))

    def _params(self, dyn: NeuronDynamics) -> tuple[Any, ...]:
        values = self.param_values()
        return tuple(values[q.name] for q in dyn.params)

    def _states(self, dyn: NeuronDynamics, like: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.state_like(name, like) for name in dyn.state_names)

    def _store(self, dyn: NeuronDynamics, states: tuple[torch.Tensor, ...]) -> None:
        for name, value in zip(dyn.state_names, states):
            setattr(self, name, value)

    def single_step_forward(self, x: torch.Tensor) -> torch.Tensor:
        dyn = self.dynamics
        s, states = dyn.step(x, self._states(dyn, x), dyn.param_views(self._params(dyn), x.shape))
        self._store(dyn, states)
        return s

    def multi_step_forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        if x_seq.dim() < 2:
            raise ValueError(
                f"{type(self).__name__} in step mode 'm' expects [T, B, ...], got shape {tuple(x_seq.shape)}"
            )
        dyn = self.dynamics
        run = multi_step_for(self.backend, x_seq)
        s_seq, states, v_seq = run(dyn, x_seq, self._states(dyn, x_seq[0]), self._params(dyn), self.store_v_seq)
        self._store(dyn, states)
        if self.store_v_seq:
            self.v_seq = v_seq
        return s_seq

    def extra_repr(self) -> str:
        reset = "soft" if self.v_reset is None else f"v_reset={self.v_reset:g}"
        return (
            f"v_threshold={self.v_threshold:g}, {reset}, surrogate={self.surrogate}, "
            f"detach_reset={self.detach_reset}, backend={self.backend}, {super().extra_repr()}"
        )

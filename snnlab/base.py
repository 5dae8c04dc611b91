"""Step modes and state: the two base classes every snnlab layer builds on.

* step mode ``"s"``: the module is called once per time step with ``[B, ...]`` and carries state;
* step mode ``"m"``: the module is called once with the whole sequence ``[T, B, ...]``.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import torch
from torch import nn

from snnlab.validate import InvalidArgument

STEP_MODES = ("s", "m")


def check_step_mode(owner: str | None, mode: str, supported: tuple[str, ...] = STEP_MODES, hint: str = "") -> None:
    """Raise a clear error when ``mode`` is no step mode (an :class:`~snnlab.validate.InvalidArgument` of
    ``step_mode``), or ``owner`` cannot run in it (``hint`` says why, or what to do instead)."""
    if mode not in STEP_MODES:
        raise InvalidArgument(
            "step_mode", mode, "must be 'm' (whole [T, B, ...] sequences) or 's' (step by step)", owner
        )
    if mode not in supported:
        raise ValueError(
            f"{owner} cannot run in step mode {mode!r}; supported: {supported}" + (f": {hint}" if hint else "")
        )


def check_rank(owner: str, x: torch.Tensor, rank: int, layout: str) -> None:
    """Raise unless ``x`` has ``rank`` dimensions (``layout`` names them, e.g. ``"[T, B, C, H, W]"``)."""
    if x.dim() != rank:
        raise ValueError(f"{owner} expects a {rank}-D input {layout}, got shape {tuple(x.shape)}")


class StepModule(nn.Module):
    """A module with a ``step_mode`` property; ``forward`` dispatches on it.

    Subclasses implement ``single_step_forward`` and/or ``multi_step_forward`` and list what they can run in
    ``step_modes``.  A subclass that feeds its plain ``torch.nn`` children correctly shaped inputs in every
    step mode (e.g. a wrapper around ``nn.BatchNorm2d``) sets ``wraps_torch_layers = True``, so
    :func:`snnlab.functional.configure` accepts those children.
    """

    step_modes: ClassVar[tuple[str, ...]] = STEP_MODES
    step_mode_hint: ClassVar[str] = ""  # appended to the error for a step mode outside ``step_modes``
    wraps_torch_layers: ClassVar[bool] = False

    @property
    def step_mode(self) -> str:
        return self._step_mode

    @step_mode.setter
    def step_mode(self, mode: str) -> None:
        check_step_mode(type(self).__name__, mode, self.step_modes, self.step_mode_hint)
        self._step_mode = mode

    def forward(self, x: Any) -> Any:
        if self._step_mode == "s":
            return self.single_step_forward(x)
        return self.multi_step_forward(x)

    def single_step_forward(self, x: Any) -> Any:
        raise NotImplementedError

    def multi_step_forward(self, x_seq: Any) -> Any:
        raise NotImplementedError

    def extra_repr(self) -> str:
        base = super().extra_repr()
        return f"{base}, step_mode={self._step_mode}" if base else f"step_mode={self._step_mode}"


class StatelessModule(StepModule):
    """Base of stateless layers: mode ``m`` folds ``[T, B, ...]`` into ``[T·B, ...]``, runs one step, unfolds."""

    def multi_step_forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        if x_seq.dim() < 2:
            raise ValueError(
                f"{type(self).__name__} in step mode 'm' expects [T, B, ...], got shape {tuple(x_seq.shape)}"
            )
        y = self.single_step_forward(x_seq.flatten(0, 1))
        return y.unflatten(0, x_seq.shape[:2])


class MemoryModule(StepModule):
    """A stateful module.  State ("memories") lives outside ``state_dict`` and ``reset()`` restores it.

    ``register_memory(name, initial)`` declares a state variable, readable and writable as ``self.name``.
    ``multi_step_forward`` defaults to looping ``single_step_forward`` over ``T``.
    """

    def __init__(self) -> None:
        super().__init__()
        self._memories: dict[str, Any] = {}
        self._memory_initial: dict[str, Any] = {}

    def register_memory(self, name: str, initial: Any) -> None:
        if hasattr(self, name) and name not in self._memories:
            raise AttributeError(f"{type(self).__name__} already has an attribute {name!r}")
        self._memories[name] = copy.deepcopy(initial)
        self._memory_initial[name] = copy.deepcopy(initial)

    def __getattr__(self, name: str) -> Any:
        memories = self.__dict__.get("_memories")
        if memories is not None and name in memories:
            return memories[name]
        return super().__getattr__(name)

    def __setattr__(self, name: str, value: Any) -> None:
        memories = self.__dict__.get("_memories")
        if memories is not None and name in memories:
            memories[name] = value
        else:
            super().__setattr__(name, value)

    def reset(self) -> None:
        """Restore every memory to its initial value."""
        for name, initial in self._memory_initial.items():
            self._memories[name] = copy.deepcopy(initial)

    def state_like(self, name: str, like: torch.Tensor, fill: float = 0.0) -> torch.Tensor:
        """The memory ``name`` as a tensor shaped like ``like``.

        A memory still at a (non-tensor) initial value becomes ``full_like(like, fill)``; a stored tensor of
        another shape is an error -- never a silent re-initialisation.
        """
        value = self._memories[name]
        if not isinstance(value, torch.Tensor):
            value = torch.full_like(like, fill if value is None else float(value))
            self._memories[name] = value
        elif value.shape != like.shape:
            raise RuntimeError(
                f"{type(self).__name__}.{name} holds state of shape {tuple(value.shape)} but the input step "
                f"has shape {tuple(like.shape)}; call reset() on the module (or "
                "snnlab.functional.reset_net(model)) before feeding a batch of another shape"
            )
        return value

    def multi_step_forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.single_step_forward(x) for x in x_seq])

    def __getstate__(self) -> dict[str, Any]:
        """Copies and pickles carry the initial state, not the (possibly graph-attached) current one."""
        state = self.__dict__.copy()
        state["_memories"] = copy.deepcopy(self._memory_initial)
        return state

    def _apply(self, fn: Any, recurse: bool = True) -> MemoryModule:
        """Move tensor memories along with ``.to()``/``.cuda()``/``.half()``."""
        for name, value in self._memories.items():
            if isinstance(value, torch.Tensor):
                self._memories[name] = fn(value)
        return super()._apply(fn, recurse)

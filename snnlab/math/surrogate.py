"""Surrogate gradients: the forward pass is the Heaviside step ``Θ(x)`` (with ``Θ(0) = 1``), the backward
pass uses a smooth stand-in derivative ``g'(x)``.

A surrogate is data, a registered class plus parameters (``ATan(alpha=2.0)``; in a config the ``_target_`` node
``neuron.surrogate: {_target_: atan, alpha: 2.0}``); its derivative is written once, in :mod:`snnlab.math.ops`
primitives, and shared by the torch path and the generated CUDA kernels.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import torch

from snnlab import registry
from snnlab.math.ops import TORCH_OPS
from snnlab.validate import positive


class _Spike(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, surrogate: Surrogate) -> torch.Tensor:
        if x.requires_grad:
            ctx.save_for_backward(x)
            ctx.surrogate = surrogate
        return TORCH_OPS.heaviside(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (x,) = ctx.saved_tensors
        return grad * ctx.surrogate.grad(x), None


class Surrogate:
    """Base class: subclasses set ``name`` (their registry name) and ``defaults`` and implement :meth:`grad`."""

    name: ClassVar[str]
    defaults: ClassVar[dict[str, float]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        registry.register("surrogate", cls.name, cls)

    def __init__(self, **params: float) -> None:
        unknown = set(params) - set(self.defaults)
        if unknown:
            raise TypeError(
                f"surrogate {self.name!r} got unknown parameter(s) {sorted(unknown)}; valid: {sorted(self.defaults)}"
            )
        self.params = {k: positive(params.get(k, v), k, self.name) for k, v in self.defaults.items()}

    def __getattr__(self, key: str) -> float:
        params = self.__dict__.get("params", {})
        if key in params:
            return params[key]
        raise AttributeError(key)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Heaviside step of ``x`` whose gradient is :meth:`grad`."""
        return _Spike.apply(x, self)

    def grad(self, x: Any, ops: Any = TORCH_OPS) -> Any:
        """Surrogate derivative ``g'(x)``; ``x`` is ``h - v_threshold``."""
        raise NotImplementedError

    @property
    def key(self) -> tuple[str, tuple[tuple[str, float], ...]]:
        """Hashable identity (name and parameters), e.g. for kernel caches."""
        return self.name, tuple(sorted(self.params.items()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Surrogate) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v:g}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"


class Sigmoid(Surrogate):
    """``g(x) = sigmoid(αx)``, ``g'(x) = α·sg·(1 - sg)``."""

    name = "sigmoid"
    defaults: ClassVar = {"alpha": 4.0}

    def grad(self, x: Any, ops: Any = TORCH_OPS) -> Any:
        sg = ops.sigmoid(x * self.alpha)
        return sg * (1.0 - sg) * self.alpha


class ATan(Surrogate):
    """``g(x) = arctan(παx/2)/π + 1/2``, ``g'(x) = (α/2) / (1 + (παx/2)²)``."""

    name = "atan"
    defaults: ClassVar = {"alpha": 2.0}

    def grad(self, x: Any, ops: Any = TORCH_OPS) -> Any:
        u = x * (math.pi / 2 * self.alpha)
        return (self.alpha / 2) / (u * u + 1.0)


class Triangle(Surrogate):
    """Bellec et al.'s pseudo-derivative: ``g'(x) = α·max(0, 1 - |x|)``."""

    name = "triangle"
    defaults: ClassVar = {"alpha": 0.3}

    def grad(self, x: Any, ops: Any = TORCH_OPS) -> Any:
        return ops.relu(1.0 - ops.abs(x)) * self.alpha


class Rectangular(Surrogate):
    """Box of width α and height 1/α: ``g'(x) = Θ(α/2 - |x|) / α``."""

    name = "rectangular"
    defaults: ClassVar = {"alpha": 1.0}

    def grad(self, x: Any, ops: Any = TORCH_OPS) -> Any:
        return ops.heaviside(self.alpha / 2 - ops.abs(x)) * (1.0 / self.alpha)


class PiecewiseQuadratic(Surrogate):
    """``g'(x) = max(0, α - α²|x|)`` (the derivative of a piecewise-quadratic ``g``)."""

    name = "piecewise_quadratic"
    defaults: ClassVar = {"alpha": 1.0}

    def grad(self, x: Any, ops: Any = TORCH_OPS) -> Any:
        return ops.relu(self.alpha - ops.abs(x) * (self.alpha * self.alpha))


class FastSigmoid(Surrogate):
    """SuperSpike's fast sigmoid: ``g'(x) = 1 / (1 + α|x|)²``."""

    name = "fast_sigmoid"
    defaults: ClassVar = {"alpha": 10.0}

    def grad(self, x: Any, ops: Any = TORCH_OPS) -> Any:
        d = ops.abs(x) * self.alpha + 1.0
        return 1.0 / (d * d)


def get_surrogate(surrogate: Surrogate | None = None) -> Surrogate:
    """``surrogate``, or the default ``Sigmoid(alpha=4)`` for ``None``; a name or mapping raises a ``TypeError``
    that shows the object spelling (Python) and the ``_target_`` node spelling (config)."""
    if surrogate is None:
        return Sigmoid()
    if isinstance(surrogate, Surrogate):
        return surrogate
    params = dict(surrogate) if isinstance(surrogate, Mapping) else {}
    name = params.pop("name", surrogate if isinstance(surrogate, str) else None)
    cls = registry.get("surrogate", name) if name in registry.names("surrogate") else ATan
    args = {**cls.defaults, **params}
    python = ", ".join(f"{k}={v}" for k, v in args.items())
    config = "".join(f", {k}: {v}" for k, v in args.items())
    raise TypeError(
        f"surrogate={surrogate!r}: a surrogate is a Surrogate object, e.g. surrogate={cls.__name__}({python}) in "
        f"Python, surrogate: {{_target_: {cls.name}{config}}} in a config "
        f"(surrogates: {', '.join(registry.names('surrogate'))})"
    )

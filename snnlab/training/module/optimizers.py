"""The optimizer factory: timm's ``create_optimizer_v2``, built from the ``optim`` config node, called with the
network (timm groups its parameters by name and shape)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from timm.optim import create_optimizer_v2, get_optimizer_info, list_optimizers
from torch import nn
from torch.optim import Optimizer

from snnlab import validate
from snnlab.validate import InvalidArgument


@dataclass(frozen=True)
class TimmOptimizer:
    """``TimmOptimizer("adamw", lr=5e-4, weight_decay=0.05)(net)``: timm's optimizer ``opt`` over ``net``.

    Args:
        opt: a timm optimizer name (``timm.optim.list_optimizers()``): ``sgd`` (Nesterov momentum), ``momentum``
            (plain momentum), ``adam``, ``adamw``, ``lamb``, ...
        lr: learning rate.
        weight_decay: weight decay (L2 for ``sgd``/``adam``, decoupled for ``adamw``/``lamb``).
        momentum: momentum of the optimizers that have one.
        betas, eps: of the Adam-like optimizers (``None``: the optimizer's default).
        nesterov: overrides the Nesterov setting the name implies (``None``: the name's).
        filter_bias_and_bn: no weight decay on biases, norm weights and every 1-D parameter (a group of their own),
            as timm's train.py; ``False``: every parameter decays.
    """

    opt: str
    lr: float
    weight_decay: float = 0.0
    momentum: float = 0.9
    betas: Sequence[float] | None = None
    eps: float | None = None
    nesterov: bool | None = None
    filter_bias_and_bn: bool = True

    def __post_init__(self) -> None:
        valid = list_optimizers()
        if self.opt not in valid:
            raise InvalidArgument("opt", self.opt, f"not a timm optimizer; valid: {', '.join(valid)}", "optim")
        validate.real(self.lr, "lr", "optim", low=0.0)
        validate.real(self.weight_decay, "weight_decay", "optim", low=0.0)
        validate.real(self.momentum, "momentum", "optim", low=0.0)
        if self.betas is not None and not _betas(self.betas):
            raise InvalidArgument("betas", self.betas, "must be two numbers in [0, 1), e.g. [0.9, 0.999]", "optim")
        if self.eps is not None:
            validate.positive(self.eps, "eps", "optim")
        if self.nesterov is not None:
            validate.boolean(self.nesterov, "nesterov", "optim")
            if not get_optimizer_info(self.opt).has_momentum:
                raise InvalidArgument("nesterov", self.nesterov, f"{self.opt} has no momentum; use null", "optim")
        validate.boolean(self.filter_bias_and_bn, "filter_bias_and_bn", "optim")

    def __call__(self, net: nn.Module) -> Optimizer:
        betas = tuple(self.betas) if self.betas is not None else None
        extra = {"betas": betas, "eps": self.eps, "nesterov": self.nesterov}  # None: the optimizer's default
        return create_optimizer_v2(
            net,
            opt=self.opt,
            lr=self.lr,
            weight_decay=self.weight_decay,
            momentum=self.momentum,
            filter_bias_and_bn=self.filter_bias_and_bn,
            **{k: v for k, v in extra.items() if v is not None},
        )


def _betas(betas: object) -> bool:
    """Whether ``betas`` are two numbers in ``[0, 1)``."""
    return (
        isinstance(betas, Sequence)
        and not isinstance(betas, str)
        and len(betas) == 2
        and all(isinstance(b, (int, float)) and not isinstance(b, bool) and 0 <= b < 1 for b in betas)
    )


def build_optimizer(factory: Callable[..., Optimizer], net: nn.Module) -> Optimizer:
    """The optimizer of ``net``: a :class:`TimmOptimizer` is called with the network (it groups the parameters by
    name and shape), another factory (a ``_partial_`` torch.optim class) with its parameters."""
    return factory(net if isinstance(factory, TimmOptimizer) else net.parameters())

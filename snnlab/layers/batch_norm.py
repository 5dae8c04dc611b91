"""Step-mode batch normalisation and the machinery its variants (tdBN, TEBN, BNTT) share.

Every norm layer here *wraps* plain ``torch.nn.BatchNormXd`` layers (``self.bn``, or ``self.bns`` for BNTT)
instead of subclassing one, so Lightning's ``sync_batchnorm`` (``nn.SyncBatchNorm.convert_sync_batchnorm``)
swaps only the inner layers and the wrapper's time folding, scaling or per-step selection survives DDP.  The
wrappers still read like a torch BN: ``layer.running_mean``, ``layer.momentum = 0.3``, ... go to the inner BN.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from snnlab.base import StepModule
from snnlab.validate import InvalidArgument, positive, positive_int, real

_BatchNorm = nn.modules.batchnorm._BatchNorm
_BN_TYPES: dict[int, type[_BatchNorm]] = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}
# accepted single-step layouts per spatial dimensionality
_LAYOUTS: dict[int, tuple[str, ...]] = {
    1: ("[B, C]", "[B, C, L]"),
    2: ("[B, C, H, W]",),
    3: ("[B, C, D, H, W]",),
}
BN_HYPERPARAMETERS = ("num_features", "eps", "momentum", "affine", "track_running_stats")
BN_ATTRIBUTES = (*BN_HYPERPARAMETERS, "weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _forwarded(name: str) -> property:
    """A property for the torch BN attribute ``name``: read from the first inner BN, assigned to all of them."""

    def get(self: NormWrapper) -> Any:
        return getattr(self.inner_bns()[0], name)

    def set_(self: NormWrapper, value: Any) -> None:
        for bn in self.inner_bns():
            setattr(bn, name, value)

    return property(get, set_, doc=f"``{name}`` of the wrapped torch BN (read from the first, assigned to all).")


class NormWrapper(StepModule):
    """Shared machinery of the BN variants: inner BNs, attribute forwarding, input checks.

    Subclasses set ``dim`` (1, 2 or 3) to pick ``nn.BatchNorm{dim}d`` (:attr:`bn_type`), return their torch BNs
    from :meth:`inner_bns`, and list in ``bn_attributes`` the torch BN attributes they expose; each becomes a
    property that reads the first inner BN and assigns to every inner BN (assigning an ``nn.Parameter`` too, which
    ``nn.Module`` would otherwise register on the wrapper).  Layers built for a number of time steps set ``T``.
    """

    dim: ClassVar[int]
    bn_attributes: ClassVar[tuple[str, ...]] = ()
    T: int | None = None
    wraps_torch_layers = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in cls.__dict__.get("bn_attributes", ()):
            setattr(cls, name, _forwarded(name))

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self.bn_attributes:
            object.__setattr__(self, name, value)  # runs the forwarding property
        else:
            super().__setattr__(name, value)

    @property
    def bn_type(self) -> type[_BatchNorm]:
        """The class of the inner BNs, ``torch.nn.BatchNorm{dim}d``."""
        return _BN_TYPES[self.dim]

    def inner_bns(self) -> list[_BatchNorm]:
        """The torch BNs this layer wraps (``SyncBatchNorm`` after ``convert_sync_batchnorm``)."""
        raise NotImplementedError

    def checked_steps(self, T: int) -> int:
        """``T``, the number of time steps the layer is built for (an integer >= 1)."""
        return positive_int(T, "T", type(self).__name__)

    def check_bn_arguments(self, eps: float, momentum: float | None) -> None:
        """The torch BN arguments torch itself does not check: ``eps`` > 0 and ``momentum`` in ``[0, 1]`` (or
        ``None``: cumulative averages)."""
        positive(eps, "eps", type(self).__name__)
        if momentum is not None:
            real(momentum, "momentum", type(self).__name__, low=0.0, high=1.0)

    def check_input(self, x: torch.Tensor, multi_step: bool) -> None:
        """Raise unless ``x`` has a layout this layer accepts in the given step mode."""
        layouts = _LAYOUTS[self.dim]
        extra = 1 if multi_step else 0
        ranks = [layout.count(",") + 1 + extra for layout in layouts]
        if x.dim() not in ranks:
            shown = " or ".join("[T, " + lay[1:] if multi_step else lay for lay in layouts)
            mode = "m" if multi_step else "s"
            raise ValueError(f"{type(self).__name__} in step mode {mode!r} expects {shown}, got shape {tuple(x.shape)}")

    def check_steps(self, x_seq: torch.Tensor) -> None:
        """Raise unless ``x_seq`` is a multi-step input of this layer's layout with the ``T`` it was built for."""
        self.check_input(x_seq, multi_step=True)
        if x_seq.shape[0] != self.T:
            raise InvalidArgument(  # names T: the layer's T, not the input's, is the value to change
                "T",
                self.T,
                f"{type(self).__name__} was built for T={self.T} time steps but got an input with "
                f"T={x_seq.shape[0]} (shape {tuple(x_seq.shape)})",
            )

    def extra_repr(self) -> str:
        steps = "" if self.T is None else f"T={self.T}, "
        return steps + super().extra_repr()


class _SingleBN(NormWrapper):
    """A norm around one torch BN, ``self.bn``, exposing all of its attributes (``bn_attributes``).

    Its multi-step forward is BN with statistics over ``T·B`` (and space) jointly.
    """

    bn_attributes = BN_ATTRIBUTES

    def __init__(self, *bn_args: Any, step_mode: str) -> None:
        """``bn_args``: the arguments of ``torch.nn.BatchNormXd``, in order."""
        super().__init__()
        self.check_bn_arguments(*bn_args[1:3])
        self.bn = self.bn_type(*bn_args)
        self.step_mode = step_mode

    def inner_bns(self) -> list[_BatchNorm]:
        return [self.bn]

    def multi_step_forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        self.check_input(x_seq, multi_step=True)
        return self.bn(x_seq.flatten(0, 1)).unflatten(0, x_seq.shape[:2])


class _BatchNormNd(_SingleBN):
    """Batch norm with a step mode; in mode ``m`` the statistics cover ``T·B`` (and space) jointly.

    Arguments are those of ``torch.nn.BatchNormXd`` plus ``step_mode``; so are the attributes (``running_mean``,
    ``weight``, ``momentum``, ...), which read and write the wrapped ``self.bn``.
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        step_mode: str = "s",
    ) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, step_mode=step_mode)

    def single_step_forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x, multi_step=False)
        return self.bn(x)


class BatchNorm1d(_BatchNormNd):
    """Step-mode batch norm over ``[B, C]`` or ``[B, C, L]`` steps."""

    dim = 1


class BatchNorm2d(_BatchNormNd):
    """Step-mode batch norm over ``[B, C, H, W]`` steps."""

    dim = 2


class BatchNorm3d(_BatchNormNd):
    """Step-mode batch norm over ``[B, C, D, H, W]`` steps."""

    dim = 3

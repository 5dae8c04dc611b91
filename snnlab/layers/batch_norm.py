"""Step-mode batch normalisation.

Every norm layer here *wraps* a plain ``torch.nn.BatchNormXd`` (``self.bn``) instead of subclassing it, so
Lightning's ``sync_batchnorm`` (``nn.SyncBatchNorm.convert_sync_batchnorm``) swaps only the inner layer and the
wrapper's time folding, scaling or per-step selection survives DDP.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from snnlab.base import StepModule

_BN_TYPES: dict[int, type[nn.modules.batchnorm._BatchNorm]] = {
    1: nn.BatchNorm1d,
    2: nn.BatchNorm2d,
    3: nn.BatchNorm3d,
}
# accepted single-step layouts per spatial dimensionality
_LAYOUTS: dict[int, tuple[str, ...]] = {
    1: ("[B, C]", "[B, C, L]"),
    2: ("[B, C, H, W]",),
    3: ("[B, C, D, H, W]",),
}


class NormWrapper(StepModule):
    """Shared machinery of the BN variants: building inner BNs, input checks and time folding.

    Subclasses set ``dim`` (1, 2 or 3) to pick ``nn.BatchNorm{dim}d``.
    """

    dim: ClassVar[int]
    wraps_torch_layers = True

    @classmethod
    def make_bn(
        cls,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> nn.modules.batchnorm._BatchNorm:
        return _BN_TYPES[cls.dim](num_features, eps, momentum, affine, track_running_stats)

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
        """Raise unless the input's ``T`` equals the ``T`` this layer was built for."""
        if x_seq.shape[0] != self.T:
            raise ValueError(
                f"{type(self).__name__} was built for T={self.T} time steps but got an input with "
                f"T={x_seq.shape[0]} (shape {tuple(x_seq.shape)})"
            )

    def fold_bn(self, bn: nn.Module, x_seq: torch.Tensor) -> torch.Tensor:
        """Apply ``bn`` to ``[T, B, ...]`` with statistics over ``T·B`` (and space) jointly."""
        self.check_input(x_seq, multi_step=True)
        return bn(x_seq.flatten(0, 1)).unflatten(0, x_seq.shape[:2])


class _BatchNormNd(NormWrapper):
    """Batch norm with a step mode; in mode ``m`` the statistics cover ``T·B`` (and space) jointly.

    Arguments are those of ``torch.nn.BatchNormXd`` plus ``step_mode``.
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
        super().__init__()
        self.bn = self.make_bn(num_features, eps, momentum, affine, track_running_stats)
        self.step_mode = step_mode

    def single_step_forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x, multi_step=False)
        return self.bn(x)

    def multi_step_forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        return self.fold_bn(self.bn, x_seq)


def by_dims(base: type[NormWrapper], name: str, what: str) -> tuple[type[NormWrapper], ...]:
    """The public 1d/2d/3d classes of a norm: ``base`` with ``dim`` set, named ``{name}1d`` etc."""
    return tuple(
        type(
            f"{name}{dim}d",
            (base,),
            {"dim": dim, "__module__": base.__module__, "__doc__": f"{what} over {' or '.join(_LAYOUTS[dim])} steps."},
        )
        for dim in (1, 2, 3)
    )


BatchNorm1d, BatchNorm2d, BatchNorm3d = by_dims(_BatchNormNd, "BatchNorm", "Step-mode batch norm")

"""Building blocks shared by the model families (time-first layers; the step mode is set once the net is built)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from snnlab import layers, registry
from snnlab.models.connects import Connect
from snnlab.models.dropouts import DropoutFactory
from snnlab.models.inits import Init
from snnlab.models.norms import NormFactory
from snnlab.models.pools import Pool
from snnlab.neurons import LIF
from snnlab.validate import InvalidArgument, boolean, positive

NeuronFactory = Callable[[], nn.Module]
"""``make_neuron()``: a fresh spiking neuron (one per layer)."""


def default_neuron(**overrides: Any) -> nn.Module:
    """The neuron used when a builder is called without ``make_neuron``: LIF(τ=2) (``overrides``: other settings)."""
    return LIF(**{"tau": 2.0, **overrides})


def component(value: Any, base: type, kind: str, owner: str, optional: bool = False) -> Any:
    """``value`` if it is a built ``kind`` component (an instance of ``base``; ``None`` too when ``optional``), else an
    :class:`InvalidArgument` naming ``kind`` and showing the node spelling."""
    if not (isinstance(value, base) or (optional and value is None)):
        names = registry.names(kind)
        raise InvalidArgument(
            kind,
            value,
            f"must be a registered {kind}: a node {{_target_: NAME}}, NAME one of {', '.join(names)}",
            owner,
        )
    return value


def booleans(owner: str, **flags: Any) -> None:
    """Check that every keyword's value is ``True`` or ``False`` (an error names the keyword)."""
    for name, value in flags.items():
        boolean(value, name, owner)


def conv_layout(values: Any, pool: str, argument: str, owner: str) -> list[int | str]:
    """A list of conv widths (integers >= 1) and ``pool`` marks (a 2×2 pool)."""
    ok = isinstance(values, Sequence) and not isinstance(values, (str, bytes))
    if not ok or not all(v == pool or (isinstance(v, int) and not isinstance(v, bool) and v >= 1) for v in values):
        raise InvalidArgument(
            argument,
            values,
            f"must be a list of conv widths >= 1 and {pool!r} (a 2×2 pool), e.g. [64, {pool}, 128]",
            owner,
        )
    return list(values)


def image_input(model: str, input_shape: tuple[int, ...] | list[int]) -> tuple[int, tuple[int, int]]:
    """``(channels, (h, w))`` of an image input; a clear error for other shapes (e.g. SHD's ``(700,)``)."""
    if len(input_shape) != 3:
        raise ValueError(
            f"model {model!r} takes image input (C, H, W) but the data gives input_shape {tuple(input_shape)}; "
            "use model=mlp for 1-D inputs"
        )
    return input_shape[0], (input_shape[1], input_shape[2])


def require_size(model: str, input_shape: Sequence[int], pools: int, pool: Pool) -> None:
    """Raise a ValueError naming ``model`` and the data's ``input_shape`` when ``pools`` of ``pool`` would shrink its
    map below 1×1 (flooring pools need ``H, W >= 2**pools``), instead of an error deep inside the first forward."""
    hw = (input_shape[1], input_shape[2])
    for _ in range(pools):
        hw = pool.out_size(hw)
    if min(hw) < 1:
        need = 2**pools
        raise ValueError(
            f"model {model!r} cannot take the data's input_shape {tuple(input_shape)}: its {pools} 2×2 pools (floor) "
            f"need an input of at least {need}×{need}; use larger images (data.size, data.resize) or a family with "
            "adaptive pooling (vgg, resnet19)"
        )


def conv_block(
    in_channels: int,
    out_channels: int,
    hw: tuple[int, int],
    make_neuron: NeuronFactory,
    norm: NormFactory,
    stride: int = 1,
    bias: bool = False,
    kernel_size: int = 3,
) -> tuple[nn.Sequential, tuple[int, int]]:
    """conv (odd ``kernel_size``, same padding) → norm → neuron → post-neuron norm; the block and its ``(h, w)``."""
    h, w = ((hw[0] - 1) // stride + 1, (hw[1] - 1) // stride + 1)
    block = nn.Sequential(
        layers.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=bias),
        norm.pre(out_channels),
        make_neuron(),
        norm.post(out_channels, h, w),
    )
    return block, (h, w)


def hidden_fc(
    in_features: int,
    out_features: int,
    make_neuron: NeuronFactory,
    norm: NormFactory,
    dropout: DropoutFactory,
    bias: bool = True,
    fc_norm: bool = True,
) -> list[nn.Module]:
    """A hidden fully connected spiking layer: ``linear → norm → neuron → post-neuron norm``; the linear layer comes
    from the dropout factory (DropConnect replaces it), the dropout itself is placed by the caller.

    ``fc_norm=False`` leaves out both norms (the papers that normalise conv layers only).
    """
    return [
        dropout.linear(in_features, out_features, bias),
        norm.pre(out_features, dims=1) if fc_norm else layers.Identity(),
        make_neuron(),
        norm.post(out_features) if fc_norm else layers.Identity(),
    ]


def head(in_features: int, num_classes: int, make_neuron: NeuronFactory, spiking: bool, bias: bool = True) -> nn.Module:
    """The output layer; with ``spiking=True`` it ends in a neuron (the readout then sees firing rates)."""
    fc = layers.Linear(in_features, num_classes, bias=bias)
    return nn.Sequential(fc, make_neuron()) if spiking else fc


def initialised(net: nn.Module, init: Init | None) -> nn.Module:
    """``net`` after ``init`` (``None``: torch's own initialisation, left as it is)."""
    return net if init is None else init(net)


def width(channels: int, mult: float) -> int:
    """``channels`` scaled by a width multiplier > 0 (at least 1, so a tiny multiplier keeps one unit)."""
    return max(1, round(channels * positive(mult, "width_mult")))


class SEWBlock(nn.Module):
    """Spike-element-wise residual block (Fang et al., NeurIPS 2021): ``connect(residual(x), shortcut(x))``.

    ``residual`` ends in a spiking neuron; ``shortcut`` is the identity or a spiking projection; ``connect`` is a
    :class:`~snnlab.models.connects.Connect` (``ADD``, ``AND`` or ``IAND``).
    """

    def __init__(self, residual: nn.Module, connect: Connect, shortcut: nn.Module | None = None) -> None:
        super().__init__()
        self.residual = residual
        self.shortcut = shortcut or layers.Identity()
        self.connect = component(connect, Connect, "connect", "SEWBlock")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.connect(self.residual(x), self.shortcut(x))

    def extra_repr(self) -> str:
        return f"connect={self.connect}"

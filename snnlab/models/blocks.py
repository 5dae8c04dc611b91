"""Building blocks shared by the model families (all layers in step mode ``m``, time-first)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from snnlab import layers
from snnlab.models.dropouts import DropoutFactory
from snnlab.models.norms import NormFactory
from snnlab.neurons import LIF

NeuronFactory = Callable[[], nn.Module]
"""``make_neuron()``: a fresh spiking neuron in step mode ``m`` (one per layer)."""

POOLS = {"max": layers.MaxPool2d, "avg": layers.AvgPool2d}


def default_neuron() -> nn.Module:
    """The neuron used when a builder is called without ``make_neuron``: LIF(τ=2), multi-step."""
    return LIF(tau=2.0, step_mode="m")


def image_input(model: str, input_shape: tuple[int, ...] | list[int]) -> tuple[int, tuple[int, int]]:
    """``(channels, (h, w))`` of an image input; a clear error for other shapes (e.g. SHD's ``(700,)``)."""
    if len(input_shape) != 3:
        raise ValueError(
            f"model {model!r} takes image input (C, H, W) but the data gives input_shape {tuple(input_shape)}; "
            "use model=mlp for 1-D inputs"
        )
    return input_shape[0], (input_shape[1], input_shape[2])


def require_size(model: str, input_shape: tuple[int, ...] | list[int] | Sequence[int], pools: int) -> None:
    """Raise a ValueError naming ``model`` and the data's ``input_shape`` when ``pools`` flooring 2×2 pools would
    shrink its map below 1×1 (they need ``H, W >= 2**pools``), instead of an error deep inside the first forward."""
    need = 2**pools
    if min(input_shape[1], input_shape[2]) < need:
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
        layers.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=bias, step_mode="m"),
        norm.pre(out_channels),
        make_neuron(),
        norm.post(out_channels, h, w),
    )
    return block, (h, w)


def pool2(hw: tuple[int, int], kind: str = "max", ceil_mode: bool = True) -> tuple[nn.Module, tuple[int, int]]:
    """2×2 pooling (``kind`` ``max`` or ``avg``) and its output ``(h, w)``.

    ``ceil_mode=True`` never shrinks a map below 1×1 (for any input size); ``False`` floors odd sizes as the
    papers' reference code does (34 → 17 → 8).
    """
    if kind not in POOLS:
        raise ValueError(f"unknown pooling {kind!r}; valid: {', '.join(POOLS)}")
    rnd = 1 if ceil_mode else 0
    return POOLS[kind](2, ceil_mode=ceil_mode, step_mode="m"), ((hw[0] + rnd) // 2, (hw[1] + rnd) // 2)


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
        norm.pre(out_features, dims=1) if fc_norm else layers.Identity(step_mode="m"),
        make_neuron(),
        norm.post(out_features) if fc_norm else layers.Identity(step_mode="m"),
    ]


def head(in_features: int, num_classes: int, make_neuron: NeuronFactory, spiking: bool, bias: bool = True) -> nn.Module:
    """The output layer; with ``spiking=True`` it ends in a neuron (the readout then sees firing rates)."""
    fc = layers.Linear(in_features, num_classes, bias=bias, step_mode="m")
    return nn.Sequential(fc, make_neuron()) if spiking else fc


def width(channels: int, mult: float) -> int:
    """``channels`` scaled by a width multiplier (at least 1)."""
    return max(1, round(channels * mult))


def _kaiming_fan_out(m: nn.Module) -> None:
    if isinstance(m, nn.Conv2d):
        nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")


def _vgg(m: nn.Module) -> None:
    _kaiming_fan_out(m)
    if isinstance(m, nn.Linear):
        nn.init.normal_(m.weight, 0.0, 0.01)
    if isinstance(m, (nn.Conv2d, nn.Linear)) and m.bias is not None:
        nn.init.zeros_(m.bias)


def _xavier_gain2(m: nn.Module) -> None:
    if isinstance(m, (nn.Conv2d, nn.Linear)):
        nn.init.xavier_uniform_(m.weight, gain=2.0)


INITS: dict[str, Callable[[nn.Module], None]] = {
    "default": lambda m: None,  # torch's own initialisation
    "kaiming_fan_out": _kaiming_fan_out,  # convs: Kaiming normal, fan_out, ReLU gain (torchvision ResNet, SEW, TET)
    "vgg": _vgg,  # convs as kaiming_fan_out, linears N(0, 0.01), biases zero (torchvision VGG, OTTT)
    "xavier_gain2": _xavier_gain2,  # convs and linears: Xavier uniform, gain 2 (BNTT)
}


def init_weights(net: nn.Module, scheme: str) -> nn.Module:
    """Apply the weight initialisation ``scheme`` (a key of :data:`INITS`) to ``net``; returns ``net``."""
    if scheme not in INITS:
        raise ValueError(f"unknown init {scheme!r}; valid: {', '.join(INITS)}")
    net.apply(INITS[scheme])
    return net


CONNECTS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "ADD": lambda a, s: a + s,
    "AND": lambda a, s: a * s,
    "IAND": lambda a, s: s * (1.0 - a),
}
"""SEW element-wise functions ``g(A, S)`` of the residual branch's spikes ``A`` and the shortcut ``S``."""


class SEWBlock(nn.Module):
    """Spike-element-wise residual block (Fang et al., NeurIPS 2021): ``g(residual(x), shortcut(x))``.

    ``residual`` ends in a spiking neuron; ``shortcut`` is the identity or a spiking projection; ``connect`` names
    ``g`` (``ADD``, ``AND`` or ``IAND``, see :data:`CONNECTS`).
    """

    def __init__(self, residual: nn.Module, connect: str = "ADD", shortcut: nn.Module | None = None) -> None:
        super().__init__()
        if connect not in CONNECTS:
            raise ValueError(f"unknown SEW connect function {connect!r}; valid: {', '.join(CONNECTS)}")
        self.residual = residual
        self.shortcut = shortcut or layers.Identity(step_mode="m")
        self.connect = connect

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return CONNECTS[self.connect](self.residual(x), self.shortcut(x))

    def extra_repr(self) -> str:
        return f"connect={self.connect}"

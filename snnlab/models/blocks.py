"""Building blocks shared by the model families (all layers in step mode ``m``, time-first)."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from snnlab import layers
from snnlab.models.dropouts import DropoutFactory
from snnlab.models.norms import NormFactory
from snnlab.neurons import LIF

NeuronFactory = Callable[[], nn.Module]
"""``make_neuron()``: a fresh spiking neuron in step mode ``m`` (one per layer)."""


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


def conv_block(
    in_channels: int,
    out_channels: int,
    hw: tuple[int, int],
    make_neuron: NeuronFactory,
    norm: NormFactory,
    stride: int = 1,
) -> tuple[nn.Sequential, tuple[int, int]]:
    """3×3 conv → norm → neuron → post-neuron norm; returns the block and its output ``(h, w)``."""
    h, w = ((hw[0] - 1) // stride + 1, (hw[1] - 1) // stride + 1)
    block = nn.Sequential(
        layers.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False, step_mode="m"),
        norm.pre(out_channels),
        make_neuron(),
        norm.post(out_channels, h, w),
    )
    return block, (h, w)


def pool2(hw: tuple[int, int]) -> tuple[nn.Module, tuple[int, int]]:
    """2×2 max pooling that never shrinks a map below 1×1 (``ceil_mode``), and its output ``(h, w)``."""
    return layers.MaxPool2d(2, ceil_mode=True, step_mode="m"), ((hw[0] + 1) // 2, (hw[1] + 1) // 2)


def hidden_fc(
    in_features: int, out_features: int, make_neuron: NeuronFactory, norm: NormFactory, dropout: DropoutFactory
) -> list[nn.Module]:
    """A hidden fully connected spiking layer: ``linear → norm → neuron → post-neuron norm → dropout``."""
    return [
        dropout.linear(in_features, out_features),
        norm.pre(out_features, dims=1),
        make_neuron(),
        norm.post(out_features),
        dropout(),
    ]


def head(in_features: int, num_classes: int, make_neuron: NeuronFactory, spiking: bool) -> nn.Module:
    """The output layer; with ``spiking=True`` it ends in a neuron (the readout then sees firing rates)."""
    fc = layers.Linear(in_features, num_classes, step_mode="m")
    return nn.Sequential(fc, make_neuron()) if spiking else fc


def width(channels: int, mult: float) -> int:
    """``channels`` scaled by a width multiplier (at least 1)."""
    return max(1, round(channels * mult))

"""``resnet19``: the spiking ResNet-19 of the tdBN paper (Zheng et al., 2021), for any input size."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from snnlab import layers, registry
from snnlab.models.blocks import (
    NeuronFactory,
    booleans,
    component,
    conv_block,
    default_neuron,
    head,
    hidden_fc,
    image_input,
    initialised,
    width,
)
from snnlab.models.dropouts import DropoutFactory
from snnlab.models.inits import Init
from snnlab.models.norms import NormFactory
from snnlab.validate import positive, positive_int


class BasicBlock(nn.Module):
    """``conv-norm-neuron-conv-norm`` plus shortcut, then the neuron; both branch ends are residual norms."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        hw: tuple[int, int],
        stride: int,
        make_neuron: NeuronFactory,
        norm: NormFactory,
    ) -> None:
        super().__init__()
        self.conv1, hw = conv_block(in_channels, out_channels, hw, make_neuron, norm, stride=stride)
        self.conv2 = nn.Sequential(
            layers.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            norm.pre(out_channels, residual=True),
        )
        self.shortcut: nn.Module = layers.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                layers.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                norm.pre(out_channels, residual=True),
            )
        self.neuron = make_neuron()
        self.post = norm.post(out_channels, *hw)
        self.out_hw = hw

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.post(self.neuron(self.conv2(self.conv1(x)) + self.shortcut(x)))


@registry.register("model")
def resnet19(
    input_shape: Sequence[int],
    num_classes: int,
    make_neuron: NeuronFactory = default_neuron,
    norm: NormFactory | None = None,
    dropout: DropoutFactory | None = None,
    width_mult: float = 1.0,
    hidden: int = 256,
    spiking_head: bool = False,
    stem_channels: int = 128,
    fc_norm: bool = True,
    init: Init | None = None,
) -> nn.Sequential:
    """Stem conv and stages of 3×128, 3×256 (stride 2), 2×512 (stride 2) basic blocks, average pool,
    one hidden FC layer of ``hidden`` spiking units; channels scaled by ``width_mult``.

    ``stem_channels=128`` is the tdBN paper's layout; TET's code (``models/resnet_models.py``) uses 64, so its
    first block gets a 1×1 projection shortcut.  ``fc_norm``: the norm on the hidden FC layer (TET's code has
    none).  ``init``: the weight initialisation (``None``: torch's).
    """
    width_mult = positive(width_mult, "width_mult", "resnet19")
    hidden = positive_int(hidden, "hidden", "resnet19")
    stem_channels = positive_int(stem_channels, "stem_channels", "resnet19")
    booleans("resnet19", fc_norm=fc_norm)
    init = component(init, Init, "init", "resnet19", optional=True)
    norm, dropout = norm or NormFactory(), dropout or DropoutFactory()
    image_ch, hw = image_input("resnet19", input_shape)
    in_ch = width(stem_channels, width_mult)
    stem, hw = conv_block(image_ch, in_ch, hw, make_neuron, norm)
    blocks: list[nn.Module] = [stem]
    for channels, n_blocks, stride in ((128, 3, 1), (256, 3, 2), (512, 2, 2)):
        out_ch = width(channels, width_mult)
        for i in range(n_blocks):
            block = BasicBlock(in_ch, out_ch, hw, stride if i == 0 else 1, make_neuron, norm)
            blocks.append(block)
            in_ch, hw = out_ch, block.out_hw
    hidden = width(hidden, width_mult)
    net = nn.Sequential(
        *blocks,
        layers.AdaptiveAvgPool2d(1),
        layers.Flatten(),
        *hidden_fc(in_ch, hidden, make_neuron, norm, dropout, fc_norm=fc_norm),
        dropout(),
        head(hidden, num_classes, make_neuron, spiking_head),
    )
    return initialised(net, init)

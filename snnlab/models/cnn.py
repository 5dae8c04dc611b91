"""``cnn``: the small default convolutional SNN (two conv stages and one hidden linear layer)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from snnlab import layers, registry
from snnlab.models.blocks import NeuronFactory, conv_block, default_neuron, head, hidden_fc, image_input
from snnlab.models.dropouts import DropoutFactory
from snnlab.models.norms import NormFactory
from snnlab.models.pools import MaxPool
from snnlab.validate import positive_int, positive_ints

POOL = MaxPool()


@registry.register("model")
def cnn(
    input_shape: Sequence[int],
    num_classes: int,
    make_neuron: NeuronFactory = default_neuron,
    norm: NormFactory | None = None,
    dropout: DropoutFactory | None = None,
    channels: Sequence[int] = (16, 32),
    hidden: int = 128,
    spiking_head: bool = False,
) -> nn.Sequential:
    """One ``conv block → 2×2 max pool`` stage per entry of ``channels``, then ``hidden`` spiking units.

    ``input_shape`` is ``(C, H, W)``.
    """
    channels = positive_ints(channels, "channels", "cnn")
    hidden = positive_int(hidden, "hidden", "cnn")
    norm, dropout = norm or NormFactory(), dropout or DropoutFactory()
    in_ch, hw = image_input("cnn", input_shape)
    stages: list[nn.Module] = []
    for out_ch in channels:
        block, hw = conv_block(in_ch, out_ch, hw, make_neuron, norm)
        stages += [block, POOL.layer()]
        hw = POOL.out_size(hw)
        in_ch = out_ch
    return nn.Sequential(
        *stages,
        layers.Flatten(),
        *hidden_fc(in_ch * hw[0] * hw[1], hidden, make_neuron, norm, dropout),
        dropout(),
        head(hidden, num_classes, make_neuron, spiking_head),
    )

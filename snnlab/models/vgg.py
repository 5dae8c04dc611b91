"""``vgg``: spiking VGG-9/11/13/16 with adaptive pooling, so any input size works."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from snnlab import layers, registry
from snnlab.models.blocks import NeuronFactory, conv_block, default_neuron, head, hidden_fc, image_input, pool2, width
from snnlab.models.dropouts import DropoutFactory
from snnlab.models.norms import NormFactory

# Conv widths per stage; "M" is a 2×2 max pool.  VGG-9 is the 7-conv/2-FC net of the BNTT and TEBN papers.
VGG_CFGS: dict[int, list[int | str]] = {
    9: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M"],
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
}


@registry.register("model")
def vgg(
    input_shape: Sequence[int],
    num_classes: int,
    make_neuron: NeuronFactory = default_neuron,
    norm: NormFactory | None = None,
    dropout: DropoutFactory | None = None,
    depth: int = 11,
    width_mult: float = 1.0,
    hidden: int = 512,
    spiking_head: bool = False,
) -> nn.Sequential:
    """VGG-``depth`` (9, 11, 13 or 16 weight layers) with channels scaled by ``width_mult``.

    The conv stack ends in a 1×1 adaptive average pool, then hidden spiking FC layers of ``hidden`` units
    (one for VGG-9, two otherwise) and the output layer.
    """
    if depth not in VGG_CFGS:
        raise ValueError(f"vgg: unknown depth {depth}; valid: {sorted(VGG_CFGS)}")
    norm, dropout = norm or NormFactory(), dropout or DropoutFactory()
    in_ch, hw = image_input("vgg", input_shape)
    features: list[nn.Module] = []
    for v in VGG_CFGS[depth]:
        if v == "M":
            pool, hw = pool2(hw)
            features.append(pool)
        else:
            block, hw = conv_block(in_ch, width(int(v), width_mult), hw, make_neuron, norm)
            features.append(block)
            in_ch = width(int(v), width_mult)
    hidden = width(hidden, width_mult)
    classifier: list[nn.Module] = []
    n_convs = sum(v != "M" for v in VGG_CFGS[depth])
    for _ in range(depth - n_convs - 1):
        classifier += hidden_fc(in_ch, hidden, make_neuron, norm, dropout)
        in_ch = hidden
    return nn.Sequential(
        *features,
        layers.AdaptiveAvgPool2d(1, step_mode="m"),
        layers.Flatten(step_mode="m"),
        *classifier,
        head(in_ch, num_classes, make_neuron, spiking_head),
    )

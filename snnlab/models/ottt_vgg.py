"""``ottt_vgg``: the normaliser-free VGG of OTTT (Xiao et al., NeurIPS 2022), official name
``online_spiking_vgg11_ws``.

Each conv block is ``scaled-WS conv 3×3 → neuron → ×2.74``, average pooling between stages, then a global
average pool and one linear layer.  With ``neuron=ottt_lif`` and ``learning=ottt`` it trains online; with any
other neuron it is an ordinary network for BPTT (the same architecture, e.g. for a memory comparison).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from snnlab import layers, registry
from snnlab.models.blocks import NeuronFactory, booleans, conv_layout, default_neuron, head, image_input, width
from snnlab.models.dropouts import DropoutFactory
from snnlab.models.inits import VGGInit
from snnlab.models.norms import NormFactory
from snnlab.models.pools import AvgPool
from snnlab.validate import positive

OTTT_VGG11: tuple[int | str, ...] = (64, 128, "A", 256, 256, "A", 512, 512, "A", 512, 512)
"""The official code's cfg 'A': conv widths, ``"A"`` a 2×2 average pool; a global average pool follows."""
POOL = AvgPool()


@registry.register("model")
def ottt_vgg(
    input_shape: Sequence[int],
    num_classes: int,
    make_neuron: NeuronFactory = default_neuron,
    norm: NormFactory | None = None,
    dropout: DropoutFactory | None = None,
    channels: Sequence[int | str] = OTTT_VGG11,
    width_mult: float = 1.0,
    weight_standardization: bool = True,
    output_scale: float | None = 2.74,
    spiking_head: bool = False,
) -> nn.Sequential:
    """One block per integer in ``channels`` (widths scaled by ``width_mult``), a 2×2 average pool per ``"A"``,
    then a global average pool and the output layer.

    A block is ``conv 3×3 (bias) → norm.pre → neuron → ×output_scale → norm.post → dropout()``: the conv is a
    :class:`~snnlab.layers.ScaledWSConv2d` when ``weight_standardization`` (else a plain conv); ``output_scale``
    ``None`` leaves the scale out.  Pools use ``ceil_mode``, so odd map sizes never shrink below 1×1.  Init as the
    official code: conv weights Kaiming-normal (fan_out), linear weights N(0, 0.01), biases zero.
    """
    channels = conv_layout(channels, "A", "channels", "ottt_vgg")
    width_mult = positive(width_mult, "width_mult", "ottt_vgg")
    booleans("ottt_vgg", weight_standardization=weight_standardization)
    if output_scale is not None:
        output_scale = positive(output_scale, "output_scale", "ottt_vgg")
    norm, dropout = norm or NormFactory(), dropout or DropoutFactory()
    convs = any(v != "A" for v in channels)
    dropout.require_positions("ottt_vgg", after_neurons=convs, hidden_fc=False)
    in_ch, hw = image_input("ottt_vgg", input_shape)
    body: list[nn.Module] = []
    for v in channels:
        if v == "A":
            body.append(POOL.layer())
            hw = POOL.out_size(hw)
            continue
        out_ch = width(v, width_mult)
        conv_cls = layers.ScaledWSConv2d if weight_standardization else layers.Conv2d
        block = [conv_cls(in_ch, out_ch, 3, padding=1), norm.pre(out_ch), make_neuron()]
        if output_scale is not None:
            block.append(layers.Scale(output_scale))
        block += [norm.post(out_ch, *hw), dropout()]
        body.append(nn.Sequential(*block))
        in_ch = out_ch
    net = nn.Sequential(
        *body,
        layers.AdaptiveAvgPool2d(1),
        layers.Flatten(),
        head(in_ch, num_classes, make_neuron, spiking_head),
    )
    return VGGInit()(net)

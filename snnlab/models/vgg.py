"""``vgg``: spiking VGG nets from a list of conv widths and pools, with the options the papers vary.

:func:`vgg_net` builds any layout (``bntt_vgg`` and ``vggsnn`` are presets of it); the registered ``vgg`` builder
gives the classic VGG-9/11/13/16 with adaptive pooling, so any input size works.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from snnlab import layers, registry
from snnlab.models.blocks import (
    NeuronFactory,
    conv_block,
    default_neuron,
    head,
    hidden_fc,
    image_input,
    init_weights,
    pool2,
    require_size,
    width,
)
from snnlab.models.dropouts import DropoutFactory
from snnlab.models.norms import NormFactory

Layout = Sequence[int | str]
"""Conv widths in order; ``"P"`` is a 2×2 pool."""

# VGG-9 is the 7-conv/2-FC net of the BNTT and TEBN papers.
VGG_CFGS: dict[int, list[int | str]] = {
    9: [64, 64, "P", 128, 128, "P", 256, 256, 256, "P"],
    11: [64, "P", 128, "P", 256, 256, "P", 512, 512, "P", 512, 512, "P"],
    13: [64, 64, "P", 128, 128, "P", 256, 256, "P", 512, 512, "P", 512, 512, "P"],
    16: [64, 64, "P", 128, 128, "P", 256, 256, 256, "P", 512, 512, 512, "P", 512, 512, 512, "P"],
}


def vgg_net(
    layout: Layout,
    input_shape: Sequence[int],
    num_classes: int,
    make_neuron: NeuronFactory = default_neuron,
    norm: NormFactory | None = None,
    dropout: DropoutFactory | None = None,
    *,
    name: str = "vgg",
    width_mult: float = 1.0,
    hidden: Sequence[int] = (),
    pool: str = "max",
    ceil_mode: bool = True,
    global_pool: bool = True,
    conv_bias: bool = False,
    fc_bias: bool = True,
    fc_norm: bool = True,
    spiking_head: bool = False,
    init: str = "default",
) -> nn.Sequential:
    """Conv blocks (``conv → norm → neuron``) and ``pool`` pools as in ``layout``, then the classifier.

    Args:
        layout: conv widths, ``"P"`` for a 2×2 ``pool`` (``max``/``avg``; ``ceil_mode=False`` floors odd sizes).
        width_mult: scales every conv and hidden FC width.
        hidden: widths of the hidden spiking FC layers (``fc_norm``: with the norm factory's 1-d norm).
        global_pool: average the last map to 1×1 before the classifier; ``False`` flattens the whole map.
        conv_bias, fc_bias: biases of the convs, and of the FC layers including the output layer.
        init: weight initialisation, a key of :data:`snnlab.models.blocks.INITS`.
    """
    norm, dropout = norm or NormFactory(), dropout or DropoutFactory()
    in_ch, hw = image_input(name, input_shape)
    if not ceil_mode:
        require_size(name, input_shape, sum(v == "P" for v in layout))
    body: list[nn.Module] = []
    for v in layout:
        if v == "P":
            module, hw = pool2(hw, pool, ceil_mode)
        else:
            module, hw = conv_block(in_ch, width(int(v), width_mult), hw, make_neuron, norm, bias=conv_bias)
            in_ch = width(int(v), width_mult)
        body.append(module)
    if global_pool:
        body.append(layers.AdaptiveAvgPool2d(1, step_mode="m"))
        hw = (1, 1)
    body.append(layers.Flatten(step_mode="m"))
    features = in_ch * hw[0] * hw[1]
    for units in hidden:
        body += [
            *hidden_fc(features, width(units, width_mult), make_neuron, norm, dropout, fc_bias, fc_norm),
            dropout(),
        ]
        features = width(units, width_mult)
    body.append(head(features, num_classes, make_neuron, spiking_head, fc_bias))
    return init_weights(nn.Sequential(*body), init)


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
    n_hidden = depth - sum(v != "P" for v in VGG_CFGS[depth]) - 1
    return vgg_net(
        VGG_CFGS[depth],
        input_shape,
        num_classes,
        make_neuron,
        norm,
        dropout,
        width_mult=width_mult,
        hidden=[hidden] * n_hidden,
        spiking_head=spiking_head,
    )

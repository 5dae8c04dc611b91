"""``vgg``: spiking VGG nets from a list of conv widths and pools, with the options the papers vary.

:func:`vgg_net` builds any layout (``bntt_vgg`` and ``vggsnn`` are presets of it); the registered ``vgg`` builder
gives the classic VGG-9/11/13/16 with adaptive pooling, so any input size works.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from snnlab import layers, registry
from snnlab.models.blocks import (
    NeuronFactory,
    booleans,
    component,
    conv_block,
    conv_layout,
    default_neuron,
    head,
    hidden_fc,
    image_input,
    initialised,
    require_size,
    width,
)
from snnlab.models.dropouts import DropoutFactory
from snnlab.models.inits import Init
from snnlab.models.norms import NormFactory
from snnlab.models.pools import MaxPool, Pool
from snnlab.validate import InvalidArgument, one_of, positive, positive_int, positive_ints

Layout = Sequence[int | str]
"""Conv widths in order; ``"P"`` is a 2×2 pool."""

# VGG-9 is the 7-conv/2-FC net of the BNTT and TEBN papers.
VGG_CFGS: dict[int, list[int | str]] = {
    9: [64, 64, "P", 128, 128, "P", 256, 256, 256, "P"],
    11: [64, "P", 128, "P", 256, 256, "P", 512, 512, "P", 512, 512, "P"],
    13: [64, 64, "P", 128, 128, "P", 256, 256, "P", 512, 512, "P", 512, 512, "P"],
    16: [64, 64, "P", 128, 128, "P", 256, 256, 256, "P", 512, 512, 512, "P", 512, 512, 512, "P"],
}
DEFAULT_POOL = MaxPool()


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
    pool: Pool = DEFAULT_POOL,
    global_pool: bool = True,
    conv_bias: bool = False,
    fc_bias: bool = True,
    fc_norm: bool = True,
    spiking_head: bool = False,
    init: Init | None = None,
) -> nn.Sequential:
    """Conv blocks (``conv → norm → neuron``) and ``pool`` pools as in ``layout``, then the classifier.

    Args:
        layout: conv widths, ``"P"`` for a 2×2 ``pool`` (a :class:`~snnlab.models.pools.Pool`).
        width_mult: scales every conv and hidden FC width.
        hidden: widths of the hidden spiking FC layers (``fc_norm``: with the norm factory's 1-d norm).
        global_pool: average the last map to 1×1 before the classifier; ``False`` flattens the whole map.
        conv_bias, fc_bias: biases of the convs, and of the FC layers including the output layer.
        init: weight initialisation (an :class:`~snnlab.models.inits.Init`); ``None`` keeps torch's.
    """
    layout = conv_layout(layout, "P", "layout", name)
    width_mult = positive(width_mult, "width_mult", name)
    hidden = positive_ints(hidden, "hidden", name)
    booleans(name, global_pool=global_pool, conv_bias=conv_bias, fc_bias=fc_bias, fc_norm=fc_norm)
    pool = component(pool, Pool, "pool", name)
    init = component(init, Init, "init", name, optional=True)
    norm, dropout = norm or NormFactory(), dropout or DropoutFactory()
    dropout.require_positions(f"{name} without hidden FC layers", after_neurons=bool(hidden), hidden_fc=bool(hidden))
    in_ch, hw = image_input(name, input_shape)
    require_size(name, input_shape, sum(v == "P" for v in layout), pool)
    body: list[nn.Module] = []
    for v in layout:
        if v == "P":
            module, hw = pool.layer(), pool.out_size(hw)
        else:
            module, hw = conv_block(in_ch, width(int(v), width_mult), hw, make_neuron, norm, bias=conv_bias)
            in_ch = width(int(v), width_mult)
        body.append(module)
    if global_pool:
        body.append(layers.AdaptiveAvgPool2d(1))
        hw = (1, 1)
    body.append(layers.Flatten())
    features = in_ch * hw[0] * hw[1]
    for units in hidden:
        body += [
            *hidden_fc(features, width(units, width_mult), make_neuron, norm, dropout, fc_bias, fc_norm),
            dropout(),
        ]
        features = width(units, width_mult)
    body.append(head(features, num_classes, make_neuron, spiking_head, fc_bias))
    return initialised(nn.Sequential(*body), init)


def preset(owner: str, reference: Mapping[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
    """A preset's :func:`vgg_net` options: ``reference`` overridden by the caller's ``options`` (each named one)."""
    params = inspect.signature(vgg_net).parameters.values()
    known = [p.name for p in params if p.kind is p.KEYWORD_ONLY and p.name != "name"]
    for key, value in options.items():
        if key not in known:
            raise InvalidArgument(key, value, f"not an option of {owner}; valid: {', '.join(known)}", owner)
    return {**reference, **options}


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
    depth = one_of(depth, sorted(VGG_CFGS), "depth", "vgg")
    hidden = positive_int(hidden, "hidden", "vgg")
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

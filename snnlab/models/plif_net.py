"""``plif_net``: the networks of the PLIF paper (Fang et al., ICCV 2021), as its reference code.

Reference: fangwei123456/Parametric-Leaky-Integrate-and-Fire-Spiking-Neuron, ``codes/models.py``.  Stages of
``conv3×3 (no bias) → BN → neuron``, each stage ending in a 2×2 pool (floor), then
``flatten → FC (no bias) → neuron → FC (no bias) → neuron`` with spiking dropout before FC layers.  Presets
(``channels``, ``stages``, ``hidden``, ``fc_dropout``):

* MNIST / Fashion-MNIST: 128, ``[1, 1]``, 2048, ``[0, 1]``;
* CIFAR-10: 256, ``[3, 3]``, 2048, ``[0]``;
* neuromorphic (``N`` stages, ``MNISTNet``/``CIFAR10DVSNet``/``DVS128GestureNet``): 128, ``[1] * N``, ``None``
  (a quarter of the flattened features), ``[0, 1]``; N = 2 for N-MNIST (34 → 17 → 8), 4 for CIFAR10-DVS, 5 for
  DVS128 Gesture.

The reference computes the first conv + BN of the static nets once and feeds it at every step; with direct
coding the first conv here sees the same image at every step, which gives the same values and gradients.
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


@registry.register("model")
def plif_net(
    input_shape: Sequence[int],
    num_classes: int,
    make_neuron: NeuronFactory = default_neuron,
    norm: NormFactory | None = None,
    dropout: DropoutFactory | None = None,
    channels: int = 128,
    stages: Sequence[int] = (1, 1),
    hidden: int | None = 2048,
    fc_dropout: Sequence[int] = (0, 1),
    pool: str = "max",
    ceil_mode: bool = False,
    fc_norm: bool = False,
    width_mult: float = 1.0,
    spiking_head: bool = False,
    init: str = "default",
) -> nn.Sequential:
    """Conv stages of ``channels`` (``stages`` lists the convs per stage), then the two FC layers.

    Args:
        hidden: units of the hidden FC layer; ``None`` = a quarter of the flattened conv output.
        fc_dropout: which FC layers (0 = hidden, 1 = output) the dropout factory's ``dropout()`` precedes.
        pool: ``max`` or ``avg`` (the paper's ablation); ``ceil_mode=False`` floors odd sizes as the reference.
        fc_norm: the norm factory's norm on the hidden FC layer (the reference has none).
    """
    norm, dropout = norm or NormFactory(), dropout or DropoutFactory()
    in_ch, hw = image_input("plif_net", input_shape)
    if not ceil_mode:
        require_size("plif_net", input_shape, len(stages))
    ch = width(channels, width_mult)
    body: list[nn.Module] = []
    for n_convs in stages:
        for _ in range(n_convs):
            block, hw = conv_block(in_ch, ch, hw, make_neuron, norm)
            body.append(block)
            in_ch = ch
        pool_layer, hw = pool2(hw, pool, ceil_mode)
        body.append(pool_layer)
    features = ch * hw[0] * hw[1]
    units = features // 4 if hidden is None else width(hidden, width_mult)
    body += [
        layers.Flatten(step_mode="m"),
        dropout() if 0 in fc_dropout else layers.Identity(step_mode="m"),
        *hidden_fc(features, units, make_neuron, norm, dropout, bias=False, fc_norm=fc_norm),
        dropout() if 1 in fc_dropout else layers.Identity(step_mode="m"),
        head(units, num_classes, make_neuron, spiking_head, bias=False),
    ]
    return init_weights(nn.Sequential(*body), init)

"""``sew_dvs``: the SEW ResNets of the SEW paper (Fang et al., NeurIPS 2021) for DVS128 Gesture and CIFAR10-DVS.

Reference: fangwei123456/Spike-Element-Wise-ResNet, ``dvsgesture/smodels.py`` and ``cifar10dvs/smodels.py``
(``ResNetN`` with ``SEWResNet``'s layer lists): for each entry of ``channels``, a ``conv1×1 → BN → neuron``
projection where the channel count changes, one SEW block of two ``conv3×3 (no bias) → BN → neuron`` layers, and
a 2×2 max pool (floor); then an FC output layer (with bias) on the flattened map, averaged over time.
Gesture: ``channels = [32] * 7``; CIFAR10-DVS: ``[64] * 4 + [128] * 3`` (128×128 input: a 1×1 map at the end).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from snnlab import layers, registry
from snnlab.models.blocks import (
    NeuronFactory,
    SEWBlock,
    conv_block,
    default_neuron,
    head,
    image_input,
    init_weights,
    pool2,
    require_size,
    width,
)
from snnlab.models.dropouts import DropoutFactory
from snnlab.models.norms import NormFactory


@registry.register("model")
def sew_dvs(
    input_shape: Sequence[int],
    num_classes: int,
    make_neuron: NeuronFactory = default_neuron,
    norm: NormFactory | None = None,
    dropout: DropoutFactory | None = None,
    channels: Sequence[int] = (32,) * 7,
    connect: str = "ADD",
    width_mult: float = 1.0,
    spiking_head: bool = False,
    init: str = "default",
) -> nn.Sequential:
    """One ``[projection] → SEW block → max pool`` stage per entry of ``channels`` (scaled by ``width_mult``).

    ``connect`` is the SEW function (``ADD``, ``AND``, ``IAND``); ``init`` a key of
    :data:`snnlab.models.blocks.INITS` (the reference keeps torch's initialisation).
    """
    norm = norm or NormFactory()
    in_ch, hw = image_input("sew_dvs", input_shape)
    require_size("sew_dvs", input_shape, len(channels))
    body: list[nn.Module] = []
    for c in (width(c, width_mult) for c in channels):
        if in_ch != c:
            up, hw = conv_block(in_ch, c, hw, make_neuron, norm, kernel_size=1)
            body.append(up)
            in_ch = c
        first, hw = conv_block(c, c, hw, make_neuron, norm)
        second, hw = conv_block(c, c, hw, make_neuron, norm)
        pool, hw = pool2(hw, "max", ceil_mode=False)
        body += [SEWBlock(nn.Sequential(first, second), connect), pool]
    body += [layers.Flatten(step_mode="m"), head(in_ch * hw[0] * hw[1], num_classes, make_neuron, spiking_head)]
    return init_weights(nn.Sequential(*body), init)

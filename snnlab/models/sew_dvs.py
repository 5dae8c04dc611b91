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
    component,
    conv_block,
    default_neuron,
    head,
    image_input,
    initialised,
    require_size,
    width,
)
from snnlab.models.connects import Add, Connect
from snnlab.models.dropouts import DropoutFactory
from snnlab.models.inits import Init
from snnlab.models.norms import NormFactory
from snnlab.models.pools import MaxPool
from snnlab.validate import positive, positive_ints

REFERENCE_CONNECT, POOL = Add(), MaxPool(ceil_mode=False)


@registry.register("model")
def sew_dvs(
    input_shape: Sequence[int],
    num_classes: int,
    make_neuron: NeuronFactory = default_neuron,
    norm: NormFactory | None = None,
    dropout: DropoutFactory | None = None,
    channels: Sequence[int] = (32,) * 7,
    connect: Connect = REFERENCE_CONNECT,
    width_mult: float = 1.0,
    spiking_head: bool = False,
    init: Init | None = None,
) -> nn.Sequential:
    """One ``[projection] → SEW block → 2×2 max pool (floor)`` stage per entry of ``channels`` (scaled by
    ``width_mult``).

    ``connect`` is the SEW function (``ADD``, ``AND``, ``IAND``); ``init``: ``None`` keeps torch's initialisation
    (the reference).  The net has no hidden FC layer and no dropout: a ``dropout`` other than ``none`` is refused.
    """
    channels = positive_ints(channels, "channels", "sew_dvs", allow_empty=False)
    connect = component(connect, Connect, "connect", "sew_dvs")
    width_mult = positive(width_mult, "width_mult", "sew_dvs")
    init = component(init, Init, "init", "sew_dvs", optional=True)
    (dropout or DropoutFactory()).require_positions("sew_dvs", after_neurons=False, hidden_fc=False)
    norm = norm or NormFactory()
    in_ch, hw = image_input("sew_dvs", input_shape)
    require_size("sew_dvs", input_shape, len(channels), POOL)
    body: list[nn.Module] = []
    for c in (width(c, width_mult) for c in channels):
        if in_ch != c:
            up, hw = conv_block(in_ch, c, hw, make_neuron, norm, kernel_size=1)
            body.append(up)
            in_ch = c
        first, hw = conv_block(c, c, hw, make_neuron, norm)
        second, hw = conv_block(c, c, hw, make_neuron, norm)
        body += [SEWBlock(nn.Sequential(first, second), connect), POOL.layer()]
        hw = POOL.out_size(hw)
    body += [layers.Flatten(), head(in_ch * hw[0] * hw[1], num_classes, make_neuron, spiking_head)]
    return initialised(nn.Sequential(*body), init)

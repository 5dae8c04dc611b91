"""``vggsnn``: the VGGSNN of TET (Deng et al., ICLR 2022) for 48×48 CIFAR10-DVS frames, also used by TEBN.

Reference: Gus-Lab/temporal_efficient_training, ``models/VGG_models.py`` (``VGGSNN``): 3×3 convs with bias,
each followed by BN and a LIF neuron, 2×2 average pools, one output layer on the flattened map, Kaiming-normal
(fan-out) conv weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from snnlab import registry
from snnlab.models.blocks import NeuronFactory, default_neuron
from snnlab.models.dropouts import DropoutFactory
from snnlab.models.inits import KaimingFanOut
from snnlab.models.norms import NormFactory
from snnlab.models.pools import AvgPool
from snnlab.models.vgg import preset, vgg_net

VGGSNN_LAYOUT: list[int | str] = [64, 128, "P", 256, 256, "P", 512, 512, "P", 512, 512, "P"]


@registry.register("model")
def vggsnn(
    input_shape: Sequence[int],
    num_classes: int,
    make_neuron: NeuronFactory = default_neuron,
    norm: NormFactory | None = None,
    dropout: DropoutFactory | None = None,
    width_mult: float = 1.0,
    spiking_head: bool = False,
    **options: Any,
) -> nn.Sequential:
    """``64-128-P-256-256-P-512-512-P-512-512-P``, flatten, output layer (48×48 input: 512·3·3 features).

    ``options`` override the reference's :func:`~snnlab.models.vgg.vgg_net` options.
    """
    reference = {
        "pool": AvgPool(ceil_mode=False),
        "global_pool": False,
        "conv_bias": True,
        "fc_bias": True,
        "init": KaimingFanOut(),
    }
    return vgg_net(
        VGGSNN_LAYOUT,
        input_shape,
        num_classes,
        make_neuron,
        norm,
        dropout,
        name="vggsnn",
        width_mult=width_mult,
        spiking_head=spiking_head,
        **preset("vggsnn", reference, options),
    )

"""``bntt_vgg``: VGG-9 and VGG-11 of the BNTT paper (Kim & Panda, Front. Neurosci. 2021), as its reference code.

Reference: Intelligent-Computing-Lab-Yale/BNTT-Batch-Normalization-Through-Time, ``model.py``
(``SNN_VGG9_BNTT``, ``SNN_VGG11_BNTT``): 3×3 convs without bias, 2×2 average pools, one hidden FC layer,
an output layer without bias whose outputs are averaged over time, Xavier-uniform (gain 2) weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from snnlab import registry
from snnlab.models.blocks import NeuronFactory, default_neuron
from snnlab.models.dropouts import DropoutFactory
from snnlab.models.inits import XavierUniform
from snnlab.models.norms import NormFactory
from snnlab.models.pools import AvgPool
from snnlab.models.vgg import preset, vgg_net
from snnlab.validate import one_of

# depth: (layout, hidden FC width, average the last map to 1×1)
BNTT_VGGS: dict[int, tuple[list[int | str], int, bool]] = {
    9: ([64, 64, "P", 128, 128, "P", 256, 256, 256, "P"], 1024, False),
    11: ([64, "P", 128, "P", 256, 256, "P", 512, 512, "P", 512, 512], 4096, True),
}


@registry.register("model")
def bntt_vgg(
    input_shape: Sequence[int],
    num_classes: int,
    make_neuron: NeuronFactory = default_neuron,
    norm: NormFactory | None = None,
    dropout: DropoutFactory | None = None,
    depth: int = 9,
    width_mult: float = 1.0,
    spiking_head: bool = False,
    **options: Any,
) -> nn.Sequential:
    """BNTT's VGG-``depth`` (9 or 11); ``options`` override the reference's :func:`~snnlab.models.vgg.vgg_net` options.

    VGG-9: ``64-64-P-128-128-P-256-256-256-P``, flatten, FC 1024; VGG-11: ``64-P-128-P-256-256-P-512-512-P-512-512``,
    global average pool, FC 4096 (BNTT's "VGG11" has 10 weight layers).  ``P`` is a 2×2 average pool (floor).
    """
    layout, hidden, global_pool = BNTT_VGGS[one_of(depth, sorted(BNTT_VGGS), "depth", "bntt_vgg")]
    reference = {
        "hidden": [hidden],
        "pool": AvgPool(ceil_mode=False),
        "global_pool": global_pool,
        "conv_bias": False,
        "fc_bias": False,
        "init": XavierUniform(gain=2.0),
    }
    return vgg_net(
        layout,
        input_shape,
        num_classes,
        make_neuron,
        norm,
        dropout,
        name="bntt_vgg",
        width_mult=width_mult,
        spiking_head=spiking_head,
        **preset("bntt_vgg", reference, options),
    )

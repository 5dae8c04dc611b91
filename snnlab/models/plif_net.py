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
from typing import Any

from torch import nn

from snnlab import layers, registry
from snnlab.models.blocks import (
    NeuronFactory,
    booleans,
    component,
    conv_block,
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
from snnlab.validate import InvalidArgument, positive, positive_int, positive_ints

REFERENCE_POOL = MaxPool(ceil_mode=False)


def fc_layers(values: Any) -> list[int]:
    """``fc_dropout``: a list of FC layer indices, 0 (hidden) and 1 (output)."""
    ok = isinstance(values, Sequence) and not isinstance(values, (str, bytes))
    if not ok or not all(v in (0, 1) and not isinstance(v, bool) for v in values):
        raise InvalidArgument(
            "fc_dropout", values, "must list FC layers: 0 (hidden), 1 (output), e.g. [0, 1]", "plif_net"
        )
    return list(values)


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
    pool: Pool = REFERENCE_POOL,
    fc_norm: bool = False,
    width_mult: float = 1.0,
    spiking_head: bool = False,
    init: Init | None = None,
) -> nn.Sequential:
    """Conv stages of ``channels`` (``stages`` lists the convs per stage), then the two FC layers.

    Args:
        hidden: units of the hidden FC layer; ``None`` = a quarter of the flattened conv output.
        fc_dropout: which FC layers (0 = hidden, 1 = output) the dropout factory's ``dropout()`` precedes.
        pool: 2×2 max (reference) or average pooling (the paper's ablation), flooring odd sizes as the reference
            (``ceil_mode=False``).
        fc_norm: the norm factory's norm on the hidden FC layer (the reference has none).
        init: weight initialisation; ``None`` keeps torch's (the reference).
    """
    channels = positive_int(channels, "channels", "plif_net")
    stages = positive_ints(stages, "stages", "plif_net", allow_empty=False)
    if hidden is not None:
        hidden = positive_int(hidden, "hidden", "plif_net")
    fc_dropout = fc_layers(fc_dropout)
    booleans("plif_net", fc_norm=fc_norm)
    width_mult = positive(width_mult, "width_mult", "plif_net")
    pool = component(pool, Pool, "pool", "plif_net")
    init = component(init, Init, "init", "plif_net", optional=True)
    norm, dropout = norm or NormFactory(), dropout or DropoutFactory()
    dropout.require_positions("plif_net with fc_dropout=[]", after_neurons=bool(fc_dropout), hidden_fc=True)
    in_ch, hw = image_input("plif_net", input_shape)
    require_size("plif_net", input_shape, len(stages), pool)
    ch = width(channels, width_mult)
    body: list[nn.Module] = []
    for n_convs in stages:
        for _ in range(n_convs):
            block, hw = conv_block(in_ch, ch, hw, make_neuron, norm)
            body.append(block)
            in_ch = ch
        body.append(pool.layer())
        hw = pool.out_size(hw)
    features = ch * hw[0] * hw[1]
    units = max(1, features // 4) if hidden is None else width(hidden, width_mult)
    body += [
        layers.Flatten(),
        dropout() if 0 in fc_dropout else layers.Identity(),
        *hidden_fc(features, units, make_neuron, norm, dropout, bias=False, fc_norm=fc_norm),
        dropout() if 1 in fc_dropout else layers.Identity(),
        head(units, num_classes, make_neuron, spiking_head, bias=False),
    ]
    return initialised(nn.Sequential(*body), init)

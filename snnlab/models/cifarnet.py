"""``cifarnet``: the CIFARNet of STBP/NeuNorm (Wu et al., AAAI 2019), as the authors' STBP CIFAR-10 code.

Paper layout: ``128C3(Enc)-256C3-AP2-512C3-AP2-1024C3-512C3-1024FC-512FC-Voting``.  Reference code (no NeuNorm):
yjwu17/STBP-for-training-SpikingNN, branch ``yjwu17-pytorch-snn``, ``code_cifar10/spiking_cnn_model.py``:
convs and FCs with bias, 2×2 average pools, dropout on the spikes between conv layers and before the first two
FC layers, and an output layer of ``votes × classes`` spiking neurons read out by voting.  NeuNorm comes from
the norm factory (``norm=neunorm`` puts it after every neuron).
"""

from __future__ import annotations

from collections.abc import Sequence

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
from snnlab.models.pools import AvgPool, Pool
from snnlab.validate import positive

# conv widths, "P" a 2×2 pool, "D" the dropout between conv layers (reference code, p=0.5)
CIFARNET: list[int | str] = [128, "D", 256, "P", "D", 512, "P", "D", 1024, "D", 512]
HIDDEN = (1024, 512)
REFERENCE_POOL = AvgPool(ceil_mode=False)


@registry.register("model")
def cifarnet(
    input_shape: Sequence[int],
    num_classes: int,
    make_neuron: NeuronFactory = default_neuron,
    norm: NormFactory | None = None,
    dropout: DropoutFactory | None = None,
    width_mult: float = 1.0,
    spiking_head: bool = False,
    pool: Pool = REFERENCE_POOL,
    conv_bias: bool = True,
    fc_bias: bool = True,
    fc_norm: bool = True,
    conv_dropout: bool = True,
    init: Init | None = None,
) -> nn.Sequential:
    """CIFARNet: five conv layers, FC 1024 and FC 512 (all spiking), then the output layer.

    The dropout factory's ``dropout()`` follows conv 1, both pools and conv 4 (``conv_dropout``) and precedes
    FC 1024 and FC 512.  ``fc_norm``: the norm factory's norms on the hidden FC layers.  ``pool``: the reference's
    2×2 average pool (floor); ``init``: ``None`` keeps torch's initialisation (the reference).
    """
    width_mult = positive(width_mult, "width_mult", "cifarnet")
    booleans("cifarnet", conv_bias=conv_bias, fc_bias=fc_bias, fc_norm=fc_norm, conv_dropout=conv_dropout)
    pool = component(pool, Pool, "pool", "cifarnet")
    init = component(init, Init, "init", "cifarnet", optional=True)
    norm, dropout = norm or NormFactory(), dropout or DropoutFactory()
    in_ch, hw = image_input("cifarnet", input_shape)
    require_size("cifarnet", input_shape, CIFARNET.count("P"), pool)
    body: list[nn.Module] = []
    for v in CIFARNET:
        if v == "P":
            module, hw = pool.layer(), pool.out_size(hw)
        elif v == "D":
            if not conv_dropout:
                continue
            module = dropout()
        else:
            module, hw = conv_block(in_ch, width(int(v), width_mult), hw, make_neuron, norm, bias=conv_bias)
            in_ch = width(int(v), width_mult)
        body.append(module)
    body.append(layers.Flatten())
    features = in_ch * hw[0] * hw[1]
    for units in (width(u, width_mult) for u in HIDDEN):
        body += [dropout(), *hidden_fc(features, units, make_neuron, norm, dropout, fc_bias, fc_norm)]
        features = units
    body.append(head(features, num_classes, make_neuron, spiking_head, fc_bias))
    return initialised(nn.Sequential(*body), init)

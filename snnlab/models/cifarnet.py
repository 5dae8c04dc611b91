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

# conv widths, "P" a 2×2 pool, "D" the dropout between conv layers (reference code, p=0.5)
CIFARNET: list[int | str] = [128, "D", 256, "P", "D", 512, "P", "D", 1024, "D", 512]
HIDDEN = (1024, 512)


@registry.register("model")
def cifarnet(
    input_shape: Sequence[int],
    num_classes: int,
    make_neuron: NeuronFactory = default_neuron,
    norm: NormFactory | None = None,
    dropout: DropoutFactory | None = None,
    width_mult: float = 1.0,
    spiking_head: bool = False,
    pool: str = "avg",
    conv_bias: bool = True,
    fc_bias: bool = True,
    fc_norm: bool = True,
    conv_dropout: bool = True,
    init: str = "default",
) -> nn.Sequential:
    """CIFARNet: five conv layers, FC 1024 and FC 512 (all spiking), then the output layer.

    The dropout factory's ``dropout()`` follows conv 1, both pools and conv 4 (``conv_dropout``) and precedes
    FC 1024 and FC 512.  ``fc_norm``: the norm factory's norms on the hidden FC layers.
    """
    norm, dropout = norm or NormFactory(), dropout or DropoutFactory()
    in_ch, hw = image_input("cifarnet", input_shape)
    require_size("cifarnet", input_shape, CIFARNET.count("P"))
    body: list[nn.Module] = []
    for v in CIFARNET:
        if v == "P":
            module, hw = pool2(hw, pool, ceil_mode=False)
        elif v == "D":
            if not conv_dropout:
                continue
            module = dropout()
        else:
            module, hw = conv_block(in_ch, width(int(v), width_mult), hw, make_neuron, norm, bias=conv_bias)
            in_ch = width(int(v), width_mult)
        body.append(module)
    body.append(layers.Flatten(step_mode="m"))
    features = in_ch * hw[0] * hw[1]
    for units in (width(u, width_mult) for u in HIDDEN):
        body += [dropout(), *hidden_fc(features, units, make_neuron, norm, dropout, fc_bias, fc_norm)]
        features = units
    body.append(head(features, num_classes, make_neuron, spiking_head, fc_bias))
    return init_weights(nn.Sequential(*body), init)

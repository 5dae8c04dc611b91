"""``mlp``: a fully connected SNN on flattened input."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import nn

from snnlab import layers, registry
from snnlab.models.blocks import NeuronFactory, default_neuron, head, hidden_fc
from snnlab.models.dropouts import DropoutFactory
from snnlab.models.norms import NormFactory
from snnlab.validate import positive_ints


@registry.register("model")
def mlp(
    input_shape: Sequence[int],
    num_classes: int,
    make_neuron: NeuronFactory = default_neuron,
    norm: NormFactory | None = None,
    dropout: DropoutFactory | None = None,
    hidden: Sequence[int] = (256,),
    spiking_head: bool = False,
) -> nn.Sequential:
    """``linear → norm → neuron → dropout`` for each width in ``hidden`` (a list), then the output layer."""
    hidden = positive_ints(hidden, "hidden", "mlp")
    norm, dropout = norm or NormFactory(), dropout or DropoutFactory()
    dropout.require_positions("mlp with hidden=[]", after_neurons=bool(hidden), hidden_fc=bool(hidden))
    body: list[nn.Module] = [layers.Flatten()]
    features = math.prod(input_shape)
    for width in hidden:
        body += [*hidden_fc(features, width, make_neuron, norm, dropout), dropout()]
        features = width
    return nn.Sequential(*body, head(features, num_classes, make_neuron, spiking_head))

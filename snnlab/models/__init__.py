"""Model zoo: each family registers its builders as ``model`` components; ``create_model(name, **kwargs)``.

The components the builders receive are registered here too: ``norm``, ``dropout``, ``init``, ``connect``, ``pool``.
"""

import warnings

from torch import nn

from snnlab import registry
from snnlab.functional import configure
from snnlab.models import (  # noqa: F401  (importing a family registers its builders)
    bntt_vgg,
    cifarnet,
    cnn,
    mlp,
    ottt_vgg,
    plif_net,
    resnet,
    sew_dvs,
    sew_resnet,
    transformer,
    vgg,
    vggsnn,
)
from snnlab.models.blocks import NeuronFactory, default_neuron
from snnlab.models.connects import Add, And, Connect, IAnd
from snnlab.models.dropouts import DropConnect, DropoutFactory, SpikingDropout
from snnlab.models.inits import Init, KaimingFanOut, VGGInit, XavierUniform
from snnlab.models.norms import BN, BNTT, TEBN, NeuNorm, NormFactory, TdBN
from snnlab.models.pools import AvgPool, MaxPool, Pool


def create_model(name: str, step_mode: str = "m", backend: str = "auto", **kwargs: object) -> nn.Module:
    """Build the registered model ``name`` (``kwargs`` go to its builder), then set its ``step_mode`` and neuron
    ``backend`` (:func:`snnlab.functional.configure`; a note on an option it could not apply is a warning)."""
    net = registry.build("model", name, **kwargs)
    for note in configure(net, step_mode, backend):
        warnings.warn(note, stacklevel=2)
    return net


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    return registry.names("model")


__all__ = [
    "BN",
    "BNTT",
    "TEBN",
    "Add",
    "And",
    "AvgPool",
    "Connect",
    "DropConnect",
    "DropoutFactory",
    "IAnd",
    "Init",
    "KaimingFanOut",
    "MaxPool",
    "NeuNorm",
    "NeuronFactory",
    "NormFactory",
    "Pool",
    "SpikingDropout",
    "TdBN",
    "VGGInit",
    "XavierUniform",
    "create_model",
    "default_neuron",
    "list_models",
]

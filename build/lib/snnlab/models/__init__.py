"""Model zoo: each family registers its builders as ``model`` components; ``create_model(name, **kwargs)``."""

from torch import nn

from snnlab import registry
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
    vgg,
    vggsnn,
)
from snnlab.models.blocks import NeuronFactory, default_neuron
from snnlab.models.dropouts import DropConnect, DropoutFactory, SpikingDropout
from snnlab.models.norms import BN, BNTT, TEBN, NeuNorm, NormFactory, TdBN


def create_model(name: str, **kwargs: object) -> nn.Module:
    """Build the registered model ``name``; ``kwargs`` go to its builder."""
    return registry.build("model", name, **kwargs)


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    return registry.names("model")


__all__ = [
    "BN",
    "BNTT",
    "TEBN",
    "DropConnect",
    "DropoutFactory",
    "NeuNorm",
    "NeuronFactory",
    "NormFactory",
    "SpikingDropout",
    "TdBN",
    "create_model",
    "default_neuron",
    "list_models",
]

"""Model zoo: every family registers its builders; build them with ``create_model(name, **kwargs)``."""

from snnlab.models import cnn, mlp, resnet, vgg  # noqa: F401  (registers the builders)
from snnlab.models.factories import (
    DROPOUTS,
    NORMS,
    DropoutFactory,
    NormFactory,
    factories_from_config,
)
from snnlab.models.registry import create_model, list_models, register_model

__all__ = [
    "DROPOUTS",
    "NORMS",
    "DropoutFactory",
    "NormFactory",
    "create_model",
    "factories_from_config",
    "list_models",
    "register_model",
]

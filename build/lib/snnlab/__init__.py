"""snnlab: config-driven training of spiking neural networks.

Importing the package registers the library's components (surrogates, backends, neurons, norms, dropouts,
encoders, models); :mod:`snnlab.data` and :mod:`snnlab.training` register theirs when imported.
"""

from importlib.metadata import version

from snnlab import encoders, functional, kernels, layers, models, neurons, registry
from snnlab.models import create_model

__version__ = version("snnlab")

__all__ = [
    "__version__",
    "create_model",
    "encoders",
    "functional",
    "kernels",
    "layers",
    "models",
    "neurons",
    "registry",
]

"""Data modules (``data`` components): embedded MNIST-5k and digits, torchvision images, ImageNet, tonic events."""

from snnlab.data import digits, events, imagenet, mnist5k, vision  # noqa: F401  (registers the data modules)
from snnlab.data.base import SNNDataModule

__all__ = ["SNNDataModule"]

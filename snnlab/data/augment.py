"""Tensor augmentations of ``[C, H, W]`` images that torchvision does not provide in the form papers' code used."""

from __future__ import annotations

import inspect
import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from snnlab.validate import InvalidArgument, real


def from_config(key: str, cls: type, kwargs: Mapping[str, Any] | None) -> Any:
    """``cls(**kwargs)`` for a data config key (``None`` when ``kwargs`` is empty); a bad argument raises an
    :class:`~snnlab.validate.InvalidArgument` of ``key`` that says what is wrong and the parameters ``cls`` takes."""
    if not kwargs:
        return None
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        takes = ", ".join(inspect.signature(cls).parameters)
        raise InvalidArgument(key, dict(kwargs), f"{e} ({cls.__name__} takes {takes})") from e


class Cutout(torch.nn.Module):
    """Zero one random ``length``×``length`` square of a ``[C, H, W]`` tensor (DeVries & Taylor, 2017).

    The centre is uniform over the image, so the square may be clipped at the border.
    """

    def __init__(self, length: int) -> None:
        super().__init__()
        self.length = length

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        h, w = img.shape[-2:]
        cy, cx = int(torch.randint(h, ())), int(torch.randint(w, ()))
        half = self.length // 2
        img = img.clone()
        img[..., max(cy - half, 0) : cy + self.length - half, max(cx - half, 0) : cx + self.length - half] = 0
        return img


class RandomErase(torch.nn.Module):
    """With probability ``p``, fill one random box of a raw ``[C, H, W]`` image in ``[0, 1]``: channel 0 with a grey
    level ``c / 255``, ``c`` uniform in ``0..255``, the other channels with 0.

    The box has area ``s·H·W`` and aspect ratio ``r`` (``s``, ``r`` uniform in ``scale`` and ``ratio``): height
    ``⌊√(s·H·W·r)⌋``, width ``⌊√(s·H·W/r)⌋``, at a uniform position inside the image.  This is the "Cutout" of the
    OTTT code (torchtoolbox's ``Cutout()`` with its defaults, on RGB PIL images, where PIL pastes the integer fill
    ``c`` as the colour ``(c, 0, 0)``); apply it before normalisation.
    """

    def __init__(self, p: float = 0.5, scale: Sequence[float] = (0.02, 0.4), ratio: Sequence[float] = (0.4, 2.5)):
        super().__init__()
        real(p, "p", "RandomErase", low=0.0, high=1.0)
        if not (0.0 <= scale[0] <= scale[1] <= 1.0 and 0.0 < ratio[0] <= ratio[1]):
            raise ValueError(
                f"RandomErase: need 0 <= scale[0] <= scale[1] <= 1 and 0 < ratio[0] <= ratio[1], got "
                f"scale={scale!r}, ratio={ratio!r}"
            )
        self.p, self.scale, self.ratio = p, tuple(scale), tuple(ratio)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        if random.random() >= self.p:
            return img
        height, width = img.shape[-2:]
        area = random.uniform(*self.scale) * height * width
        aspect = random.uniform(*self.ratio)
        h = min(int(math.sqrt(area * aspect)), height)
        w = min(int(math.sqrt(area / aspect)), width)
        top, left = random.randint(0, height - h), random.randint(0, width - w)
        img = img.clone()
        img[..., top : top + h, left : left + w] = 0
        img[0, top : top + h, left : left + w] = random.randint(0, 255) / 255
        return img

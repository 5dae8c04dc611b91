"""timm's training augmentations for the image data modules: RandAugment, colour jitter and random erasing.

Built with timm's public API and placed as timm's ``transforms_factory`` places them: crop/flip, then RandAugment
and colour jitter on the PIL image (:attr:`TimmAugment.image_steps`), then ``ToTensor`` and ``Normalize``, then
``RandomErasing`` on the normalised tensor (:attr:`TimmAugment.tensor_steps`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from timm.data import random_erasing as timm_erasing
from timm.data.auto_augment import rand_augment_transform
from timm.data.transforms import str_to_pil_interp
from torchvision import transforms as T

from snnlab.data.augment import from_config
from snnlab.validate import InvalidArgument, one_of, positive, positive_int, real

# RandAugment operation sets: None is timm's default set (its "increasing" variant with inc1)
OP_SETS: dict[str, list[str] | None] = {
    "full": None,
    "spikformer": ["Equalize", "Rotate", "ShearX", "TranslateXRel", "TranslateYRel"],  # Spikformer cifar10/aa_snn.py
}
INTERPOLATIONS = ("random", "nearest", "bilinear", "bicubic")  # random: bilinear or bicubic per op (timm)
ERASE_MODES = ("const", "rand", "pixel")
_SECTION = re.compile(r"(?:m|n|mmax)\d+|inc[01]|(?:p|mstd)\d+(?:\.\d+)?")
_SECTIONS = (
    "a timm RandAugment string is 'rand', then dash-separated m<int> (magnitude), n<int> (ops per image), p<float> "
    "(op probability), mstd<float> (magnitude std), mmax<int> (magnitude bound), inc<0|1> (increasing ops), e.g. "
    "rand-m9-n1-mstd0.4-inc1; the op set is randaugment_ops"
)


def check_randaugment(config: Any, owner: str | None = None) -> str:
    """``config`` if it is a timm RandAugment string whose every section timm reads (timm skips unknown ones)."""
    head, *sections = config.split("-") if isinstance(config, str) else [None]
    bad = [s for s in sections if not _SECTION.fullmatch(s)]
    if head != "rand" or bad:
        where = f"unknown section {bad[0]!r}; " if head == "rand" else ""
        raise InvalidArgument("randaugment", config, where + _SECTIONS, owner)
    return config


class RandomErasing(timm_erasing.RandomErasing):
    """timm's ``RandomErasing`` of one normalised ``[C, H, W]`` tensor, on the CPU: with probability ``p``, 1 to
    ``max_count`` boxes of ``min_area``..``max_area`` of the image in all, aspect ``min_aspect``..``max_aspect``
    (default ``1 / min_aspect``), filled with zeros (``const``), one normal colour per box (``rand``) or normal noise
    (``pixel``)."""

    def __init__(
        self,
        p: float = 0.5,
        mode: str = "const",
        min_area: float = 0.02,
        max_area: float = 1 / 3,
        min_aspect: float = 0.3,
        max_aspect: float | None = None,
        max_count: int = 1,
    ) -> None:
        owner = "RandomErasing"
        real(p, "p", owner, low=0.0, high=1.0)
        one_of(mode, ERASE_MODES, "mode", owner)
        real(min_area, "min_area", owner, low=0.0, high=1.0, low_open=True)
        real(max_area, "max_area", owner, low=min_area, high=1.0)
        positive(min_aspect, "min_aspect", owner)
        if max_aspect is not None:
            real(max_aspect, "max_aspect", owner, low=min_aspect)
        positive_int(max_count, "max_count", owner)
        super().__init__(p, min_area, max_area, min_aspect, max_aspect, mode, max_count=max_count, device="cpu")


class TimmAugment:
    """The timm options of an image data module, checked and built for images of ``image_size`` normalised with
    ``mean`` (RandAugment fills with the mean colour and translates by up to 45 % of the smaller side, as timm).

    Args:
        randaugment: a timm RandAugment string (``rand-m9-n1-mstd0.4-inc1``); ``None``: off.
        randaugment_ops: ``full`` (timm's set) or ``spikformer`` (the five ops of Spikformer's CIFAR code).
        color_jitter: ``ColorJitter`` brightness, contrast and saturation (as timm's scalar); ``None``: off.  timm
            applies none while RandAugment is on, so a non-zero value with ``randaugment`` is refused.
        random_erasing: keyword arguments of :class:`RandomErasing`; ``None``: off.
        interpolation: of RandAugment's geometric ops (and of resizing crops, where the module has one).
    """

    def __init__(
        self,
        image_size: Sequence[int],
        mean: Sequence[float],
        randaugment: str | None = None,
        randaugment_ops: str = "full",
        color_jitter: float | None = None,
        random_erasing: Mapping[str, Any] | None = None,
        interpolation: str = "random",
        owner: str | None = None,
    ) -> None:
        ops = OP_SETS[one_of(randaugment_ops, OP_SETS, "randaugment_ops", owner)]
        self.interpolation = one_of(interpolation, INTERPOLATIONS, "interpolation", owner)
        self.image_steps: list[Callable] = []
        if randaugment is not None:
            hparams: dict[str, Any] = {
                "translate_const": int(min(image_size) * 0.45),
                "img_mean": tuple(min(255, round(255 * m)) for m in mean),
            }
            if interpolation != "random":
                hparams["interpolation"] = str_to_pil_interp(interpolation)
            config = check_randaugment(randaugment, owner)
            self.image_steps.append(rand_augment_transform(config, hparams, transforms=ops))
        if color_jitter is not None and real(color_jitter, "color_jitter", owner, low=0.0) > 0:
            if randaugment is not None:
                expected = f"must be null or 0: timm applies no colour jitter while RandAugment is on ({randaugment!r})"
                raise InvalidArgument("color_jitter", color_jitter, expected, owner)
            self.image_steps.append(T.ColorJitter(color_jitter, color_jitter, color_jitter))
        erase = from_config("random_erasing", RandomErasing, random_erasing)
        self.tensor_steps: list[Callable] = [erase] if erase else []

"""The event-frame augmentation of the Spikformer and QKFormer DVS code (their ``SNNAugmentWide``); timm has none."""

from __future__ import annotations

import math

import torch
from torchvision.transforms import InterpolationMode, RandomErasing
from torchvision.transforms import functional as F

BINS = 31  # a magnitude is one of 31 evenly spaced values in [-max, max], as in the official code
MAX = {"shear_x": 0.3, "translate_x": 5.0, "translate_y": 5.0, "rotate": 30.0}  # radians, pixels, pixels, degrees
NEAREST = InterpolationMode.NEAREST


class SNNAugmentWide(torch.nn.Module):
    """One op, drawn uniformly per sample, applied identically to all frames of a ``[T, C, H, W]`` sample.

    The ops of Spikformer's and QKFormer's ``cifar10dvs/autoaugment.py``: identity; shear along x by an angle of
    up to 0.3 rad; translation along x or y by ``int(m)`` pixels, ``|m| <= 5``; rotation by up to 30°; or cutout, a
    zeroed square of 0.1 %–11 % of the frame area (torchvision's ``RandomErasing``, ratio 1).  Magnitudes are one of
    :data:`BINS` evenly spaced values; nearest interpolation, zero fill.  The official code flips the frames first
    (``RandomHorizontalFlip``), as the ``spikformer`` event augmentation does.
    """

    ops = ("identity", "shear_x", "translate_x", "translate_y", "rotate", "cutout")

    def __init__(self) -> None:
        super().__init__()
        self.cutout = RandomErasing(p=1.0, scale=(0.001, 0.11), ratio=(1.0, 1.0))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.apply_op(frames, self.ops[int(torch.randint(len(self.ops), ()))])

    def apply_op(self, frames: torch.Tensor, op: str) -> torch.Tensor:
        """``op`` with a random magnitude on ``frames`` (``[..., C, H, W]``; every leading index alike)."""
        if op == "identity":
            return frames
        if op == "cutout":
            return self.cutout(frames)
        m = float(torch.linspace(-MAX[op], MAX[op], BINS)[torch.randint(BINS, ())])
        if op == "rotate":
            return F.rotate(frames, m, interpolation=NEAREST)
        shear = [math.degrees(m), 0.0] if op == "shear_x" else [0.0, 0.0]
        shift = {"translate_x": [int(m), 0], "translate_y": [0, int(m)]}.get(op, [0, 0])
        return F.affine(frames, angle=0.0, translate=shift, scale=1.0, shear=shear, interpolation=NEAREST)

    def extra_repr(self) -> str:
        return f"ops={', '.join(self.ops)}, one per sample"

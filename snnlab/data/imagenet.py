"""ImageNet (ILSVRC-2012) in torchvision's ``ImageFolder`` layout, with the standard transforms.

Training: ``RandomResizedCrop(224)`` + horizontal flip, optionally timm's RandAugment, colour jitter and random erasing
(:class:`~snnlab.data.timm_augment.TimmAugment`); evaluation: ``Resize(256)`` + ``CenterCrop(224)``; both normalised
with the ImageNet mean and std.  The official validation set is the test set; validation is a seeded
``val_fraction`` of the training images (with the evaluation transform).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from timm.data.transforms import RandomResizedCropAndInterpolation
from torchvision import datasets
from torchvision import transforms as T

from snnlab import registry
from snnlab.data.base import SNNDataModule, Transformed, data_root, require_files
from snnlab.data.timm_augment import TimmAugment


@registry.register("data", "imagenet")
class ImageNetDataModule(SNNDataModule):
    """ImageNet from ``<data_dir>/imagenet/{train,val}/<wnid>/*.JPEG``: ``[3, 224, 224]``, 1000 classes.

    Args:
        data_dir: the data root (``imagenet/`` lies under it).
        randaugment, randaugment_ops, color_jitter, random_erasing: timm's training augmentations, see
            :class:`~snnlab.data.timm_augment.TimmAugment`.
        interpolation: of the training crop's resize and of RandAugment (``random``: bilinear or bicubic per call).
        other arguments: see :class:`~snnlab.data.base.SNNDataModule`.
    """

    input_shape = (3, 224, 224)
    num_classes = 1000
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    folder = "imagenet"

    def __init__(
        self,
        data_dir: str | None = None,
        batch_size: int = 256,
        num_workers: int = 0,
        pin_memory: bool = False,
        val_fraction: float = 0.01,
        seed: int = 0,
        randaugment: str | None = None,
        randaugment_ops: str = "full",
        color_jitter: float | None = None,
        random_erasing: dict[str, Any] | None = None,
        interpolation: str = "bilinear",
    ) -> None:
        super().__init__(batch_size, num_workers, pin_memory, val_fraction, seed)
        self.data_dir = data_root(data_dir)
        timm_options = (randaugment, randaugment_ops, color_jitter, random_erasing, interpolation)
        self.timm = TimmAugment(self.input_shape[1:], self.mean, *timm_options, owner=type(self).__name__)

    def train_transform(self) -> Callable:
        crop = RandomResizedCropAndInterpolation(224, interpolation=self.timm.interpolation)
        steps = [crop, T.RandomHorizontalFlip(), *self.timm.image_steps, T.ToTensor(), T.Normalize(self.mean, self.std)]
        return T.Compose([*steps, *self.timm.tensor_steps])

    def eval_transform(self) -> Callable:
        return T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), T.Normalize(self.mean, self.std)])

    def transform_steps(self, train: bool) -> list[Callable]:
        return list((self.train_transform() if train else self.eval_transform()).transforms)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        root = os.path.join(self.data_dir, self.folder)
        require_files(
            self.data_dir,
            (f"{self.folder}/train/*/*", f"{self.folder}/val/*/*"),
            "ImageNet",
            "Download ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar from https://image-net.org and extract them "
            f"into {root}/train/<wnid>/*.JPEG and {root}/val/<wnid>/*.JPEG (the validation images sorted into one "
            "folder per class, e.g. with the valprep.sh script of the PyTorch ImageNet example).",
        )
        full = datasets.ImageFolder(os.path.join(root, "train"))
        train, val = self.split_train_val(full)
        self.train_set = Transformed(train, self.train_transform())
        self.val_set = Transformed(val, self.eval_transform())
        self.test_set = datasets.ImageFolder(os.path.join(root, "val"), transform=self.eval_transform())

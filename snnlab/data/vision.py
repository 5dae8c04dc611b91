"""Static image data modules on top of torchvision: MNIST, Fashion-MNIST, CIFAR-10, CIFAR-100.

Samples are normalised ``[C, H, W]`` float tensors (``time_first=False``); an encoder turns a batch
into ``[T, B, C, H, W]``. The validation part is a seeded split of the official training set and
always uses the evaluation transform, never the training augmentations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from torchvision import datasets
from torchvision import transforms as T

from snnlab import registry
from snnlab.data.augment import Cutout, RandomErase, from_config
from snnlab.data.base import SNNDataModule, Transformed, data_root, require_files, unreadable_files
from snnlab.data.timm_augment import TimmAugment
from snnlab.validate import InvalidArgument, boolean, integer

CROP_FLIP = ("crop_flip", "flip")  # CIFAR training crops and flips: random crop 32 (padding 4) + flip, or flip only


class TorchvisionDataModule(SNNDataModule):
    """Shared logic: file check, optional download, seeded train/val split, eval transform for val/test.

    ``mean``/``std``: per-channel normalisation ``(x - mean) / std`` of the ``[0, 1]`` images; ``None`` keeps the data
    set's own statistics (class attributes).  Papers' code often uses other constants (e.g. CIFAR std
    ``(0.2023, 0.1994, 0.2010)``); the rate and latency encoders undo whichever is used.
    """

    dataset_cls: ClassVar[type[datasets.VisionDataset]]
    files: ClassVar[tuple[str, ...]]  # paths relative to the data root that must exist
    mean: ClassVar[tuple[float, ...]]
    std: ClassVar[tuple[float, ...]]

    def __init__(
        self,
        data_dir: str | None = None,
        batch_size: int = 128,
        num_workers: int = 0,
        pin_memory: bool = False,
        val_fraction: float = 0.1,
        seed: int = 0,
        download: bool = False,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        super().__init__(batch_size, num_workers, pin_memory, val_fraction, seed)
        owner, channels = type(self).__name__, self.input_shape[0]
        self.data_dir = data_root(data_dir)
        self.download = boolean(download, "download", owner)
        for name, values in (("mean", mean), ("std", std)):
            if values is not None and (
                isinstance(values, str)
                or len(values) != channels
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
            ):
                raise InvalidArgument(name, values, f"must be {channels} numbers, one per channel", owner)
        if std is not None and min(std) <= 0:
            raise InvalidArgument("std", std, "must be positive numbers", owner)
        self.mean = tuple(mean) if mean is not None else type(self).mean
        self.std = tuple(std) if std is not None else type(self).std

    def how_to_get(self) -> str:
        return f"Pass download=true (config: data.download=true) to fetch {self.dataset_cls.__name__}."

    def eval_transform(self) -> Callable:
        return T.Compose([T.ToTensor(), T.Normalize(self.mean, self.std)])

    def train_transform(self) -> Callable:
        return self.eval_transform()

    def transform_steps(self, train: bool) -> list[Callable]:
        return list((self.train_transform() if train else self.eval_transform()).transforms)

    def prepare_data(self) -> None:
        if self.download:
            for train in (True, False):
                self.dataset_cls(self.data_dir, train=train, download=True)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        name = self.dataset_cls.__name__
        require_files(self.data_dir, self.files, name, self.how_to_get())
        try:
            full = self.dataset_cls(self.data_dir, train=True, download=False)
            test = self.dataset_cls(self.data_dir, train=False, download=False, transform=self.eval_transform())
        except Exception as e:  # torchvision asserts on bad headers, raises on short or unpicklable files
            raise unreadable_files(name, self.data_dir, e, self.how_to_get()) from e
        train, val = self.split_train_val(full)
        self.train_set = Transformed(train, self.train_transform())
        self.val_set = Transformed(val, self.eval_transform())
        self.test_set = test


def _idx_files(name: str) -> tuple[str, ...]:
    """The four uncompressed IDX files torchvision reads from ``<root>/<name>/raw/``."""
    return tuple(
        f"{name}/raw/{split}-{kind}-ubyte" for split in ("train", "t10k") for kind in ("images-idx3", "labels-idx1")
    )


class _MNISTLike(TorchvisionDataModule):
    """Shared by MNIST and Fashion-MNIST.

    ``affine``: keyword arguments of torchvision's ``RandomAffine`` applied to training images (the PLIF
    paper's MNIST augmentation is ``{degrees: 30, translate: [0.15, 0.15], scale: [0.85, 1.11]}``);
    ``None``: no augmentation.  Other arguments as :class:`TorchvisionDataModule`.
    """

    input_shape = (1, 28, 28)
    num_classes = 10

    def __init__(self, data_dir: str | None = None, *, affine: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(data_dir, **kwargs)
        self.affine = from_config("affine", T.RandomAffine, affine)

    def train_transform(self) -> Callable:
        steps = [self.affine] if self.affine else []
        return T.Compose([*steps, *self.eval_transform().transforms])

    def how_to_get(self) -> str:
        mirror = self.dataset_cls.mirrors[0]
        return (
            super().how_to_get() + f" Or download the four *-ubyte.gz files from {mirror} and gunzip them "
            f"into {self.data_dir}/{self.dataset_cls.__name__}/raw/."
        )


@registry.register("data", "mnist")
class MNISTDataModule(_MNISTLike):
    """MNIST digits, ``[1, 28, 28]``, 10 classes."""

    dataset_cls = datasets.MNIST
    files = _idx_files("MNIST")
    mean, std = (0.1307,), (0.3081,)


@registry.register("data", "fashion_mnist")
class FashionMNISTDataModule(_MNISTLike):
    """Fashion-MNIST clothing images, ``[1, 28, 28]``, 10 classes."""

    dataset_cls = datasets.FashionMNIST
    files = _idx_files("FashionMNIST")
    mean, std = (0.2860,), (0.3530,)


@registry.register("data", "cifar10")
class CIFAR10DataModule(TorchvisionDataModule):
    """CIFAR-10, ``[3, 32, 32]``, 10 classes.

    Training augmentation, in timm's order: random crop 32 with padding 4 and horizontal flip (``augment="crop_flip"``;
    ``"flip"``: the flip only; ``None``: neither), torchvision's AutoAugment CIFAR-10 policy (``autoaugment``), timm's
    RandAugment and colour jitter, ``ToTensor``, random erasing as the OTTT code does it (``erase``: keyword arguments
    of :class:`~snnlab.data.augment.RandomErase`), ``Normalize``, Cutout of side ``cutout``, timm's RandomErasing
    (``random_erasing``).  ``randaugment``, ``randaugment_ops``, ``color_jitter``, ``random_erasing`` and
    ``interpolation``: see :class:`~snnlab.data.timm_augment.TimmAugment`.  Other arguments as
    :class:`TorchvisionDataModule`.
    """

    dataset_cls = datasets.CIFAR10
    files = tuple(f"cifar-10-batches-py/{f}" for f in ("batches.meta", "test_batch"))
    files += tuple(f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6))
    mean, std = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
    input_shape = (3, 32, 32)
    num_classes = 10

    def __init__(
        self,
        data_dir: str | None = None,
        *,
        augment: str | None = "crop_flip",
        autoaugment: bool = False,
        cutout: int = 0,
        erase: dict[str, Any] | None = None,
        randaugment: str | None = None,
        randaugment_ops: str = "full",
        color_jitter: float | None = None,
        random_erasing: dict[str, Any] | None = None,
        interpolation: str = "random",
        **kwargs: Any,
    ) -> None:
        super().__init__(data_dir, **kwargs)
        owner = type(self).__name__
        if augment is not None and augment not in CROP_FLIP:
            raise InvalidArgument("augment", augment, "valid: crop_flip (what true was), flip, null", owner)
        self.augment = augment
        self.autoaugment = boolean(autoaugment, "autoaugment", owner)
        self.cutout = integer(cutout, "cutout", owner, minimum=0)
        self.erase = from_config("erase", RandomErase, erase)
        timm_options = (randaugment, randaugment_ops, color_jitter, random_erasing, interpolation)
        self.timm = TimmAugment(self.input_shape[1:], self.mean, *timm_options, owner=owner)

    def how_to_get(self) -> str:
        return super().how_to_get() + f" Or download {self.dataset_cls.url} and extract it into {self.data_dir}/."

    def train_transform(self) -> Callable:
        steps: list[Callable] = [T.RandomCrop(32, padding=4)] if self.augment == "crop_flip" else []
        if self.augment:
            steps.append(T.RandomHorizontalFlip())
        if self.autoaugment:
            steps.append(T.AutoAugment(T.AutoAugmentPolicy.CIFAR10))
        steps += [*self.timm.image_steps, T.ToTensor(), *([self.erase] if self.erase else [])]
        steps += [T.Normalize(self.mean, self.std), *([Cutout(self.cutout)] if self.cutout > 0 else [])]
        return T.Compose([*steps, *self.timm.tensor_steps])


@registry.register("data", "cifar100")
class CIFAR100DataModule(CIFAR10DataModule):
    """CIFAR-100 (fine labels), ``[3, 32, 32]``, 100 classes; same augmentation options as CIFAR-10."""

    dataset_cls = datasets.CIFAR100
    files = tuple(f"cifar-100-python/{f}" for f in ("meta", "train", "test"))
    mean, std = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)
    num_classes = 100

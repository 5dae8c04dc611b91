"""Event-camera and spiking-audio data modules on top of tonic: N-MNIST, DVS Gesture, CIFAR10-DVS, SHD.

Each sample is binned into ``T`` frames by ``EventFrames`` (float32 counts, ``[T, P, H, W]`` or
``[T, N]`` for SHD), optionally cached on disk by ``FrameCache``, and batches come out time-first,
``[T, B, ...]`` (``time_first=True``): these modules need no encoder.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any, ClassVar

import tonic.datasets as td
from torch.utils.data import DataLoader, Dataset, Subset
from torchvision import transforms

from snnlab import registry
from snnlab.data import tonic_readers
from snnlab.data.base import SNNDataModule, Transformed, data_root, require_files
from snnlab.data.event_augment import SNNAugmentWide
from snnlab.data.event_frames import EventFrames
from snnlab.data.frame_cache import FrameCache
from snnlab.data.temporal_crop import TemporalCrop
from snnlab.validate import InvalidArgument, boolean, positive_int

CACHE_VERSION = 1  # bump when EventFrames' output changes for the same parameters
AUGMENT = ("crop_flip", "spikformer")  # training frame augmentations (see EventDataModule)


class EventDataModule(SNNDataModule):
    """Shared logic of the tonic-backed modules: file check, download, frames, cache, splits.

    Subclasses name the ``reader`` (a class of ``tonic_readers``), the tonic class that downloads
    (``source``), the glob ``files`` that must exist under the data root and how to get them.
    ``split_by`` is ``"time"`` (equal durations, or ``time_window``) or ``"number"`` (equal event counts).
    ``T_train`` < ``T`` trains on that many of the ``T`` frames, drawn anew for every batch (:class:`TemporalCrop`);
    validation and test always see all ``T``.  ``augment`` transforms training frames, the same for all ``T`` frames
    of a sample (2-D sensors only): ``crop_flip`` as TEBN's and OTTT's CIFAR10-DVS loaders, a random crop of the frame
    size from the frames zero-padded by 4 pixels, then a random horizontal flip; ``spikformer`` as the Spikformer and
    QKFormer DVS code, a random horizontal flip, then one op of :class:`~snnlab.data.event_augment.SNNAugmentWide`;
    ``None``: none.
    """

    time_first = True
    reader: ClassVar[type]
    source: ClassVar[type]
    files: ClassVar[tuple[str, ...]]
    manual: ClassVar[str]  # manual download instructions, formatted with {root}
    source_splits: ClassVar[tuple[dict[str, Any], ...]] = ({"train": True}, {"train": False})

    def __init__(
        self,
        data_dir: str | None = None,
        T: int = 16,
        time_window: float | None = None,
        batch_size: int = 16,
        num_workers: int = 0,
        pin_memory: bool = False,
        val_fraction: float = 0.1,
        seed: int = 0,
        download: bool = False,
        cache: bool = True,
        cache_dir: str | None = None,
        denoise_filter_time: float | None = None,
        size: int | Sequence[int] | None = None,
        split_by: str = "time",
        T_train: int | None = None,
        augment: str | None = None,
    ) -> None:
        super().__init__(batch_size, num_workers, pin_memory, val_fraction, seed)
        name = type(self).__name__
        self.data_dir = data_root(data_dir)
        self.download = boolean(download, "download", name)
        self.cache = boolean(cache, "cache", name)
        self.cache_dir = cache_dir or os.path.join(self.data_dir, "cache")
        self.T = positive_int(T, "T", name)
        self.frames = EventFrames(self.reader.sensor_size, T, time_window, size, denoise_filter_time, split_by)
        self.temporal_crop = TemporalCrop(T_train, T) if T_train is not None and T_train != T else None
        self.input_shape = self.frames.frame_shape
        if augment is not None and augment not in AUGMENT:
            raise InvalidArgument("augment", augment, "valid: crop_flip (what true was), spikformer, null", name)
        if augment is not None and self.frames.is_1d:
            raise InvalidArgument("augment", augment, f"transforms 2-D frames; {name} has 1-D samples", name)
        self.augment = augment

    @classmethod
    def sample_shape(cls, size: int | Sequence[int] | None = None, **_: Any) -> tuple[int, ...]:
        """The shape of one frame for the data config's ``size`` (other config keys are ignored; no file is read)."""
        return EventFrames(cls.reader.sensor_size, 1, size=size).frame_shape

    def how_to_get(self) -> str:
        return "Pass download=true (config: data.download=true), or " + self.manual.format(root=self.data_dir)

    def prepare_data(self) -> None:
        if self.download:
            for kwargs in self.source_splits:
                self.source(self.data_dir, **kwargs)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        require_files(self.data_dir, self.files, self.reader.__name__, self.how_to_get())
        train, self.test_set = self._train_test()
        self.train_set, self.val_set = self.split_train_val(train)
        if self.augment:
            self.train_set = Transformed(self.train_set, transforms.Compose(self._augment_steps()))

    def _augment_steps(self) -> list[Callable]:
        if self.augment == "crop_flip":
            return [transforms.RandomCrop(self.input_shape[1:], padding=4), transforms.RandomHorizontalFlip()]
        return [transforms.RandomHorizontalFlip(), SNNAugmentWide()] if self.augment else []

    def transform_steps(self, train: bool) -> list[Any]:
        extra = [*self._augment_steps(), *([self.temporal_crop] if self.temporal_crop else [])] if train else []
        return [self.frames, *extra]

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True, collate=self.temporal_crop)

    def _train_test(self) -> tuple[Dataset, Dataset]:
        """The official train and test sets."""
        return (
            self._cached(self.reader(self.data_dir, train=True, transform=self.frames), "train"),
            self._cached(self.reader(self.data_dir, train=False, transform=self.frames), "test"),
        )

    def _cached(self, ds: Dataset, split: str) -> Dataset:
        """``ds`` behind the disk cache when enabled; the key holds every parameter of the frames."""
        if not self.cache:
            return ds
        key = {
            "dataset": self.reader.__name__,
            "split": split,
            "root": os.path.abspath(self.data_dir),
            "n_samples": len(ds),
            "frames": asdict(self.frames),
            "version": CACHE_VERSION,
        }
        return FrameCache(ds, self.cache_dir, key)


@registry.register("data", "nmnist")
class NMNISTDataModule(EventDataModule):
    """N-MNIST (saccading ATIS recordings of MNIST digits): ``[T, 2, 34, 34]``, 10 classes."""

    reader = tonic_readers.NMNIST
    source = td.NMNIST
    files = ("NMNIST/Train/*/*.bin", "NMNIST/Test/*/*.bin")
    manual = (
        "download Train.zip and Test.zip from https://www.garrickorchard.com/datasets/n-mnist and extract "
        "them into {root}/NMNIST/ (giving NMNIST/Train/0/00002.bin, ...)."
    )
    num_classes = 10


@registry.register("data", "dvsgesture")
class DVSGestureDataModule(EventDataModule):
    """IBM DVS Gesture (tonic's preprocessed ``.npy`` release): ``[T, 2, 128, 128]``, 11 classes."""

    reader = tonic_readers.DVSGesture
    source = td.DVSGesture
    files = ("DVSGesture/ibmGestureTrain/*/*.npy", "DVSGesture/ibmGestureTest/*/*.npy")
    manual = (
        f"download {td.DVSGesture.train_url} (ibmGestureTrain.tar.gz) and {td.DVSGesture.test_url} "
        "(ibmGestureTest.tar.gz) and extract them into {root}/DVSGesture/ (giving "
        "ibmGestureTrain/user01_fluorescent/0.npy, ...)."
    )
    num_classes = 11


@registry.register("data", "cifar10dvs")
class CIFAR10DVSDataModule(EventDataModule):
    """CIFAR10-DVS: ``[T, 2, 128, 128]`` (``size=48`` gives 48×48), 10 classes.

    There is no official split: per class, the first 90 % of the files in natural path order train
    and the last 10 % test (``cifar10_<class>_900`` to ``_999``), so the split never depends on the
    seed or the file system. Validation is then a seeded ``val_fraction`` of the training part.
    Reading needs the ``aedat`` package.
    """

    reader = tonic_readers.CIFAR10DVS
    source = td.CIFAR10DVS
    source_splits = ({},)
    files = ("CIFAR10DVS/*/*.aedat4",)
    manual = (
        f"download {td.CIFAR10DVS.url} (CIFAR10DVS.zip), extract it into {{root}}/CIFAR10DVS/ and extract "
        "each <class>.zip in there (giving CIFAR10DVS/airplane/*.aedat4, ...)."
    )
    num_classes = 10
    test_fraction = 0.1

    def setup(self, stage: str | None = None) -> None:
        if importlib.util.find_spec("aedat") is None:
            raise ImportError("CIFAR10-DVS needs the 'aedat' package to read .aedat4 files: pip install aedat")
        super().setup(stage)

    def _train_test(self) -> tuple[Dataset, Dataset]:
        reader = self.reader(self.data_dir, transform=self.frames)
        train_idx, test_idx = per_class_split(reader.targets, self.test_fraction)
        full = self._cached(reader, "all")
        return Subset(full, train_idx), Subset(full, test_idx)


def per_class_split(targets: Sequence[int], test_fraction: float) -> tuple[list[int], list[int]]:
    """Indices split per class, in index order: the first ``1 - test_fraction`` train, the rest test."""
    train: list[int] = []
    test: list[int] = []
    for c in sorted(set(targets)):
        idx = [i for i, t in enumerate(targets) if t == c]
        n_test = round(len(idx) * test_fraction)
        train += idx[: len(idx) - n_test]
        test += idx[len(idx) - n_test :]
    return train, test


@registry.register("data", "shd")
class SHDDataModule(EventDataModule):
    """Spiking Heidelberg Digits: ``[T, channels]`` spike counts of 700 cochlea channels, 20 classes.

    ``channels`` < 700 sums neighbouring input channels (700 → ``channels`` by integer scaling).  Other
    arguments as :class:`EventDataModule` (``size`` is ``channels`` here).
    """

    reader = tonic_readers.SHD
    source = td.SHD
    files = ("SHD/shd_train.h5", "SHD/shd_test.h5")
    manual = f"download shd_train.h5.zip and shd_test.h5.zip from {td.SHD.base_url} and unzip them into {{root}}/SHD/."
    num_classes = 20

    def __init__(
        self, data_dir: str | None = None, *, channels: int = 700, T: int = 100, batch_size: int = 64, **kwargs: Any
    ) -> None:
        positive_int(channels, "channels", "SHDDataModule")  # the frames' size: checked here under its own name
        super().__init__(data_dir, T=T, batch_size=batch_size, size=channels, **kwargs)

    @classmethod
    def sample_shape(cls, channels: int = 700, **_: Any) -> tuple[int, ...]:
        return super().sample_shape(size=channels)

"""Common base of snnlab's LightningDataModules.

Every data module tells the model builder what it yields:

* ``input_shape`` -- shape of one sample *without* time, e.g. ``(1, 28, 28)`` or ``(700,)``;
* ``num_classes`` -- number of target classes;
* ``time_first`` -- ``True`` when batches are already ``[T, B, ...]`` frames (event data),
  ``False`` when they are static ``[B, ...]`` tensors that an encoder turns into ``[T, B, ...]``.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Sequence
from typing import Any

import torch
from lightning import LightningDataModule
from torch.utils.data import DataLoader, Dataset, random_split

from snnlab.validate import boolean, integer, positive_int, real


def data_root(path: str | None) -> str:
    """The data root: ``path`` if given, else ``$SNNLAB_DATA_DIR``, else ``./data``."""
    return os.path.expanduser(path or os.environ.get("SNNLAB_DATA_DIR") or "data")


def require_files(root: str, patterns: Sequence[str], name: str, how_to_get: str) -> None:
    """Raise ``FileNotFoundError`` unless every glob pattern (relative to ``root``) matches a file.

    The message lists the expected layout and ``how_to_get`` the files, so a missing data set
    never turns into a silent download or an obscure error deep inside a dataset class.
    """
    missing = [p for p in patterns if next(glob.iglob(os.path.join(root, p)), None) is None]
    if missing:
        layout = "\n".join(f"  {os.path.join(root, p)}" for p in patterns)
        raise FileNotFoundError(
            f"{name} not found in {root!r} (missing: {', '.join(missing)}).\nExpected files:\n{layout}\n{how_to_get}"
        )


def unreadable_files(name: str, root: str, error: Exception, how_to_get: str) -> OSError:
    """The error for data files that exist but cannot be read (truncated, or not the expected format)."""
    reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return OSError(
        f"{name} files in {root!r} cannot be read ({reason}): they are truncated or not the files the data set "
        f"expects. Delete them and get them again. {how_to_get}"
    )


class Transformed(Dataset):
    """A view of ``dataset`` with ``transform`` applied to each input."""

    def __init__(self, dataset: Dataset, transform: Callable) -> None:
        self.dataset = dataset
        self.transform = transform

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        x, y = self.dataset[index]
        return self.transform(x), y


def time_first_collate(batch: list[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack ``[T, ...]`` samples into a ``[T, B, ...]`` batch."""
    xs, ys = zip(*batch)
    return torch.stack([torch.as_tensor(x) for x in xs], dim=1), torch.as_tensor(ys)


class SNNDataModule(LightningDataModule):
    """Loader plumbing shared by all data modules; subclasses fill ``train_set``/``val_set``/``test_set``.

    ``seed`` draws the train/validation split; it is fixed (0 in every data config), independent of the run's
    seed, so runs with different seeds validate on the same samples.  ``mean``/``std`` report how the samples are
    normalised, for the encoder to undo (``None``: raw intensities in ``[0, 1]``).
    """

    input_shape: tuple[int, ...]
    num_classes: int
    time_first: bool = False
    mean: tuple[float, ...] | None = None  # per-channel normalisation of the samples, (x - mean) / std;
    std: tuple[float, ...] | None = None  # None: raw intensities in [0, 1] (what rate/latency encoders read)

    def __init__(
        self,
        batch_size: int = 64,
        num_workers: int = 0,
        pin_memory: bool = False,
        val_fraction: float = 0.1,
        seed: int = 0,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.batch_size = positive_int(batch_size, "batch_size", name)
        self.num_workers = integer(num_workers, "num_workers", name, minimum=0)
        self.pin_memory = boolean(pin_memory, "pin_memory", name)
        self.val_fraction = real(val_fraction, "val_fraction", name, low=0.0, high=1.0, high_open=True)
        self.seed = integer(seed, "seed", name, minimum=0)
        self.val_on_test = False
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        self.test_set: Dataset | None = None

    def paper_protocol(self) -> None:
        """The protocol papers report: train on the whole training set and validate on the test set every epoch
        (the best "validation" accuracy is then the best test accuracy over epochs).  Call before :meth:`setup`."""
        self.val_fraction = 0.0
        self.val_on_test = True

    def transform_steps(self, train: bool) -> list[Any]:
        """The per-sample transforms of the training (``train``) or the validation and test samples, in order."""
        return []

    def describe_transforms(self) -> dict[str, list[str]]:
        """:meth:`transform_steps` as one line of text each, ``{"train": [...], "eval": [...]}`` (reads no file)."""
        steps = {"train": self.transform_steps(True), "eval": self.transform_steps(False)}
        return {split: [" ".join(repr(t).split()) for t in ts] for split, ts in steps.items()}

    def split_train_val(self, full: Dataset) -> tuple[Dataset, Dataset]:
        """Seeded split of a training set into train and validation parts."""
        n_val = round(len(full) * self.val_fraction)
        gen = torch.Generator().manual_seed(self.seed)
        train, val = random_split(full, [len(full) - n_val, n_val], generator=gen)
        return train, val

    def _loader(self, ds: Dataset | None, shuffle: bool, collate: Callable | None = None) -> DataLoader:
        if ds is None:
            raise RuntimeError(f"{type(self).__name__}.setup() has not created this split")
        return DataLoader(
            ds,
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
            collate_fn=collate or (time_first_collate if self.time_first else None),
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.test_set if self.val_on_test else self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, shuffle=False)

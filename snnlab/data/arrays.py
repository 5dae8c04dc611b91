"""Base for small data sets held in memory as arrays: a stratified train/test split and normalisation."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.model_selection import train_test_split
from torch.utils.data import TensorDataset

from snnlab.data.base import SNNDataModule
from snnlab.validate import InvalidArgument, integer, one_of, positive_int, positive_ints

NORMALIZE = ("unit", "standard")
Split = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


class ArrayDataModule(SNNDataModule):
    """Loads ``(X, y)`` with :meth:`load_arrays`, splits off a stratified test set, then a validation slice.

    Args:
        test_size: number of test samples, drawn stratified by class with ``split_seed`` (fixed across runs,
            so runs with different ``seed`` are scored on the same test set).
        normalize: ``"unit"`` scales to ``[0, 1]``; ``"standard"`` also standardises with the training set's mean
            and std, which :attr:`mean`/:attr:`std` report (one value per channel), so the poisson and latency
            encoders undo it and read ``[0, 1]`` intensities either way.
        resize: ``[H, W]``: images resized (bilinear, antialiased) to this size; ``None`` keeps the native size.
        channels: the grey channel replicated to this many channels (e.g. 3 for CIFAR-shaped nets); ``None``
            keeps the native channels.
        other arguments: see :class:`~snnlab.data.base.SNNDataModule` (``seed`` draws the validation slice).
    """

    max_value: float

    def __init__(
        self,
        test_size: int = 1000,
        split_seed: int = 0,
        normalize: str = "unit",
        resize: Sequence[int] | None = None,
        channels: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        name = type(self).__name__
        self.test_size = positive_int(test_size, "test_size", name)
        self.split_seed = integer(split_seed, "split_seed", name, minimum=0)
        self.normalize = one_of(normalize, NORMALIZE, "normalize", name)
        self.native_shape = tuple(type(self).input_shape)
        native_channels = self.native_shape[0]
        if resize is not None and len(positive_ints(resize, "resize", name)) != 2:
            raise InvalidArgument("resize", list(resize), "must be [H, W], two integers >= 1", name)
        if channels is not None:
            positive_int(channels, "channels", name)
            if native_channels != 1 and channels != native_channels:
                expected = f"replicates a grey channel; the data has {native_channels} channels"
                raise InvalidArgument("channels", channels, expected, name)
        self.resize = tuple(resize) if resize is not None else None
        self.channels = channels
        self.input_shape = self.sample_shape(self.resize, channels)

    @classmethod
    def sample_shape(
        cls, resize: Sequence[int] | None = None, channels: int | None = None, **_: Any
    ) -> tuple[int, ...]:
        """The shape of one sample for these options, without loading anything (``snnlab inspect``)."""
        native_channels, *native_hw = cls.input_shape
        return (channels or native_channels, *(resize or native_hw))

    def load_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """All samples as ``(X [N, features], y [N])``."""
        raise NotImplementedError

    @cached_property
    def _split(self) -> Split:
        """``(x_train, x_test, y_train, y_test)``, intensities in ``[0, 1]``, adapted to ``resize``/``channels``."""
        x, y = self.load_arrays()
        x = x.astype(np.float32).reshape(len(x), *self.native_shape) / self.max_value
        if self.test_size >= len(x):
            raise InvalidArgument("test_size", self.test_size, f"must be below the number of samples, {len(x)}")
        return train_test_split(self.adapt(x), y, test_size=self.test_size, stratify=y, random_state=self.split_seed)

    @property
    def mean(self) -> tuple[float, ...] | None:
        """The mean subtracted from every channel (``normalize="standard"``); ``None`` for ``[0, 1]`` intensities."""
        return (float(self._split[0].mean()),) * self.input_shape[0] if self.normalize == "standard" else None

    @property
    def std(self) -> tuple[float, ...] | None:
        """The std every channel is divided by (``normalize="standard"``); ``None`` for ``[0, 1]`` intensities."""
        return (float(self._split[0].std()),) * self.input_shape[0] if self.normalize == "standard" else None

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        x_train, x_test, y_train, y_test = self._split
        if self.mean is not None:
            mean, std = self.mean[0], self.std[0]
            x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
        full = TensorDataset(torch.from_numpy(x_train), torch.from_numpy(y_train).long())
        self.train_set, self.val_set = self.split_train_val(full)
        self.test_set = TensorDataset(torch.from_numpy(x_test), torch.from_numpy(y_test).long())

    def adapt(self, x: np.ndarray) -> np.ndarray:
        """Images ``[N, C, H, W]`` resized to ``resize`` and replicated to ``channels`` (as asked)."""
        if self.resize is None and self.channels is None:
            return x
        t = torch.from_numpy(x)
        if self.resize is not None and self.resize != t.shape[-2:]:
            t = F.interpolate(t, size=self.resize, mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)
        if self.channels is not None:
            t = t.expand(-1, self.channels, -1, -1)
        return t.contiguous().numpy()

"""Base for small data sets held in memory as arrays: a stratified train/test split and normalisation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.model_selection import train_test_split
from torch.utils.data import TensorDataset

from snnlab.data.base import SNNDataModule

NORMALIZE = ("unit", "standard")


class ArrayDataModule(SNNDataModule):
    """Loads ``(X, y)`` with :meth:`load_arrays`, splits off a stratified test set, then a validation slice.

    Args:
        test_size: number of test samples, drawn stratified by class with ``split_seed`` (fixed across runs,
            so runs with different ``seed`` are scored on the same test set).
        normalize: ``"unit"`` scales to ``[0, 1]`` (needed by the poisson/latency encoders); ``"standard"``
            also standardises with the training set's mean and std.
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
        if normalize not in NORMALIZE:
            raise ValueError(f"{name}: unknown normalize {normalize!r}; valid: {NORMALIZE}")
        self.test_size = test_size
        self.split_seed = split_seed
        self.normalize = normalize
        self.native_shape = tuple(type(self).input_shape)
        native_channels = self.native_shape[0]
        if resize is not None:
            resize = list(resize)
            if len(resize) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in resize):
                raise ValueError(f"{name}: resize must be [H, W] of two positive integers, got {resize!r}")
        if channels is not None and (isinstance(channels, bool) or not isinstance(channels, int) or channels < 1):
            raise ValueError(f"{name}: channels must be a positive integer, got {channels!r}")
        if channels is not None and native_channels != 1 and channels != native_channels:
            raise ValueError(f"{name}: channels={channels} replicates a grey channel; the data has {native_channels}")
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

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        x, y = self.load_arrays()
        x = x.astype(np.float32).reshape(len(x), *self.native_shape) / self.max_value
        x = self.adapt(x)
        x_train, x_test, y_train, y_test = train_test_split(
            x, y, test_size=self.test_size, stratify=y, random_state=self.split_seed
        )
        if self.normalize == "standard":
            mean, std = x_train.mean(), x_train.std()
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

"""Base for small data sets held in memory as arrays: a stratified train/test split and normalisation."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
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
        other arguments: see :class:`~snnlab.data.base.SNNDataModule` (``seed`` draws the validation slice).
    """

    max_value: float

    def __init__(self, test_size: int = 1000, split_seed: int = 0, normalize: str = "unit", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if normalize not in NORMALIZE:
            raise ValueError(f"{type(self).__name__}: unknown normalize {normalize!r}; valid: {NORMALIZE}")
        self.test_size = test_size
        self.split_seed = split_seed
        self.normalize = normalize

    def load_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """All samples as ``(X [N, features], y [N])``."""
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        x, y = self.load_arrays()
        x = x.astype(np.float32).reshape(len(x), *self.input_shape) / self.max_value
        x_train, x_test, y_train, y_test = train_test_split(
            x, y, test_size=self.test_size, stratify=y, random_state=self.split_seed
        )
        if self.normalize == "standard":
            mean, std = x_train.mean(), x_train.std()
            x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
        full = TensorDataset(torch.from_numpy(x_train), torch.from_numpy(y_train).long())
        self.train_set, self.val_set = self.split_train_val(full)
        self.test_set = TensorDataset(torch.from_numpy(x_test), torch.from_numpy(y_test).long())

"""Digits: scikit-learn's 1797 8×8 handwritten digits (no download); a tiny data set for quick checks."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits

from snnlab import registry
from snnlab.data.arrays import ArrayDataModule


@registry.register("data", "digits")
class Digits(ArrayDataModule):
    """8×8 grey digits with intensities 0..16, split stratified into train (incl. validation) and test."""

    input_shape = (1, 8, 8)
    num_classes = 10
    max_value = 16.0

    def __init__(self, test_size: int = 360, **kwargs: object) -> None:
        super().__init__(test_size=test_size, **kwargs)

    def load_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        data = load_digits()
        return data.data, data.target

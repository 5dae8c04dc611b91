"""torchvision data modules on tiny fake sets in the real on-disk formats (IDX files, CIFAR pickles)."""

from __future__ import annotations

import math
import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from fake_datasets import forbid_network, skip_cifar_md5, write_cifar, write_mnist
from omegaconf import OmegaConf
from torchvision import transforms as T

from snnlab.conf import CONFIG_DIR
from snnlab.data.augment import Cutout, RandomErase
from snnlab.data.vision import CIFAR10DataModule, CIFAR100DataModule, FashionMNISTDataModule, MNISTDataModule
from snnlab.instantiate import instantiate
from snnlab.training.run.build import build_encoder

CONF = CONFIG_DIR / "data"


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    forbid_network(monkeypatch)
    skip_cifar_md5(monkeypatch)


@pytest.mark.parametrize(
    ("module", "folder", "mean", "std"),
    [(MNISTDataModule, "MNIST", 0.1307, 0.3081), (FashionMNISTDataModule, "FashionMNIST", 0.2860, 0.3530)],
)
def test_mnist_like(tmp_path: Path, module, folder: str, mean: float, std: float) -> None:
    write_mnist(tmp_path, folder, n_train=20, n_test=10)
    dm = module(str(tmp_path), batch_size=4, val_fraction=0.1)
    assert dm.input_shape == (1, 28, 28) and dm.num_classes == 10 and not dm.time_first
    dm.setup("fit")
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (18, 2, 10)
    x, y = dm.test_set[3]
    raw = dm.test_set.data[3].float() / 255
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32 and y == 3
    assert torch.allclose(x[0], (raw - mean) / std, atol=1e-5)
    xb, yb = next(iter(dm.train_dataloader()))
    assert xb.shape == (4, 1, 28, 28) and yb.shape == (4,)


@pytest.mark.parametrize(("module", "classes"), [(CIFAR10DataModule, 10), (CIFAR100DataModule, 100)])
def test_cifar(tmp_path: Path, module, classes: int) -> None:
    write_cifar(tmp_path, classes=classes, n_per_file=8)
    dm = module(str(tmp_path), batch_size=8, val_fraction=0.25, cutout=8, autoaugment=True)
    assert dm.input_shape == (3, 32, 32) and dm.num_classes == classes
    dm.setup()
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (30, 10, 8)
    xb, yb = next(iter(dm.train_dataloader()))
    assert xb.shape == (8, 3, 32, 32) and xb.dtype == torch.float32 and yb.shape == (8,)
    # validation samples use the evaluation transform: deterministic, exactly the normalised image
    full = dm.val_set.dataset.dataset
    idx = dm.val_set.dataset.indices[0]
    expected = T.Normalize(dm.mean, dm.std)(torch.from_numpy(full.data[idx]).permute(2, 0, 1).float() / 255)
    assert torch.allclose(dm.val_set[0][0], expected, atol=1e-5)
    assert dm.val_set[0][1] == full.targets[idx]


def test_cifar_augmentation_options() -> None:
    kinds = [type(t) for t in CIFAR10DataModule(autoaugment=True, cutout=16).train_transform().transforms]
    assert kinds == [T.RandomCrop, T.RandomHorizontalFlip, T.AutoAugment, T.ToTensor, T.Normalize, Cutout]
    assert [type(t) for t in CIFAR10DataModule(augment=None).train_transform().transforms] == [T.ToTensor, T.Normalize]
    flip_only = CIFAR10DataModule(augment="flip").train_transform().transforms
    assert [type(t) for t in flip_only] == [T.RandomHorizontalFlip, T.ToTensor, T.Normalize]


@pytest.mark.parametrize(("module", "folder"), [(MNISTDataModule, "MNIST"), (FashionMNISTDataModule, "FashionMNIST")])
def test_mnist_affine_augments_training_images_only(tmp_path: Path, module, folder: str) -> None:
    write_mnist(tmp_path, folder, n_train=20, n_test=10)
    # a rotation by exactly 180° about the image centre flips both axes: an expectation independent of torchvision
    dm = module(str(tmp_path), val_fraction=0.25, affine={"degrees": [180, 180]})
    dm.setup()
    normalise = T.Normalize(dm.mean, dm.std)
    full = dm.train_set.dataset.dataset
    for part, flipped in ((dm.train_set, True), (dm.val_set, False)):
        idx = part.dataset.indices[0]
        raw = normalise(full.data[idx].float().unsqueeze(0) / 255)
        assert torch.allclose(part[0][0], raw.flip(-1, -2) if flipped else raw, atol=1e-5)
    assert torch.allclose(dm.test_set[0][0], normalise(dm.test_set.data[0].float().unsqueeze(0) / 255), atol=1e-5)
    assert [type(t) for t in module(affine=None).train_transform().transforms] == [T.ToTensor, T.Normalize]


def test_mnist_affine_rejects_unknown_arguments() -> None:
    with pytest.raises(ValueError, match=r"affine=\{'rotate': 30\}.*RandomAffine takes degrees, translate, scale"):
        MNISTDataModule(affine={"rotate": 30})


def test_cutout_zeroes_a_clipped_square() -> None:
    torch.manual_seed(0)
    for _ in range(20):
        out = Cutout(8)(torch.ones(3, 32, 32))
        zero = out[0] == 0
        rows, cols = zero.any(1).sum().item(), zero.any(0).sum().item()
        assert 4 <= rows <= 8 and 4 <= cols <= 8 and zero.sum() == rows * cols
        assert torch.equal(out[0] == 0, out[2] == 0)


def test_random_erase_fills_one_box_as_the_ottt_code() -> None:
    random.seed(0)
    img = torch.rand(3, 32, 32) * 0.5 + 0.25  # no pixel is 0: the box is where the image changed
    erased = 0
    for _ in range(400):
        out = RandomErase(p=0.5, scale=(0.02, 0.4), ratio=(0.4, 2.5))(img)
        changed = (out != img).any(0)
        if not changed.any():
            assert torch.equal(out, img)
            continue
        erased += 1
        rows, cols = changed.any(1).nonzero().flatten(), changed.any(0).nonzero().flatten()
        h, w = len(rows), len(cols)
        assert changed.sum() == h * w and rows[-1] - rows[0] == h - 1 and cols[-1] - cols[0] == w - 1  # one box
        box = out[:, changed]
        assert (box[1:] == 0).all() and (box[0] == box[0, 0]).all()  # colour (c, 0, 0)
        assert math.isclose(box[0, 0].item() * 255, round(box[0, 0].item() * 255), abs_tol=1e-4)  # c in 0..255
        # h = ⌊√(A·r)⌋, w = ⌊√(A/r)⌋ with A in [0.02, 0.4]·1024 and r in [0.4, 2.5]: bounds that survive the flooring
        assert h * w <= 0.4 * 1024 and (h + 1) * (w + 1) > 0.02 * 1024
        assert h < 2.5 * (w + 1) and h + 1 > 0.4 * w
    assert 160 <= erased <= 240  # p = 0.5 of 400 (binomial, ±4 standard deviations)
    assert torch.equal(RandomErase(p=0.0)(img), img)


def test_cifar_erase_option_comes_before_normalisation() -> None:
    dm = CIFAR10DataModule(erase={"p": 1.0}, std=[0.2023, 0.1994, 0.2010])
    kinds = [type(t) for t in dm.train_transform().transforms]
    assert kinds == [T.RandomCrop, T.RandomHorizontalFlip, T.ToTensor, RandomErase, T.Normalize]
    with pytest.raises(
        ValueError, match=r"erase=\{'p': 2.0\}: RandomErase: p=2.0: must be in \[0, 1\].*takes p, scale"
    ):
        CIFAR10DataModule(erase={"p": 2.0})


def test_normalisation_constants_can_be_set() -> None:
    mean, std = [0.4914, 0.4822, 0.4465], [0.2023, 0.1994, 0.2010]
    dm = CIFAR10DataModule(mean=mean, std=std)
    assert (dm.mean, dm.std) == (tuple(mean), tuple(std)) and CIFAR10DataModule.std == (0.2470, 0.2435, 0.2616)
    normalise = dm.eval_transform().transforms[-1]
    assert (normalise.mean, normalise.std) == (tuple(mean), tuple(std))
    encoder = build_encoder(OmegaConf.create({"encoder": {"_target_": "poisson", "T": 2}}), dm)
    assert torch.equal(encoder.std, torch.tensor(std)) and torch.equal(encoder.mean, torch.tensor(mean))  # undone
    for bad, message in (
        ({"std": [0.2]}, "std=.*must be 3 numbers"),
        ({"std": [0.2, 0.2, 0.0]}, "std=.*must be positive"),
    ):
        with pytest.raises(ValueError, match=message):
            CIFAR10DataModule(**bad)


def test_split_is_seeded(tmp_path: Path) -> None:
    write_mnist(tmp_path, n_train=20)
    val = []
    for seed in (0, 0, 1):
        dm = MNISTDataModule(str(tmp_path), val_fraction=0.25, seed=seed)
        dm.setup()
        val.append(list(dm.val_set.dataset.indices))
    assert val[0] == val[1] != val[2]


@pytest.mark.parametrize("path", sorted(CONF.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_data_config_splits_with_a_fixed_seed(path: Path) -> None:
    """One rule for all data: the splits do not follow the run's seed, so runs with other seeds see the same data."""
    node = OmegaConf.load(path)
    assert node.seed == 0 and node.get("split_seed", 0) == 0
    assert "independent of the run seed" in path.read_text()


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        (MNISTDataModule, "MNIST/raw/train-images-idx3-ubyte"),
        (FashionMNISTDataModule, "FashionMNIST/raw/t10k-labels-idx1-ubyte"),
        (CIFAR10DataModule, "cifar-10-batches-py/data_batch_1"),
        (CIFAR100DataModule, "cifar-100-python/train"),
    ],
)
def test_missing_files_raise_with_layout(tmp_path: Path, module, expected: str) -> None:
    dm = module(str(tmp_path))
    dm.prepare_data()  # download=False: does nothing
    with pytest.raises(FileNotFoundError, match="download=true") as err:
        dm.setup()
    assert os.path.join(str(tmp_path), expected) in str(err.value)
    assert not any(tmp_path.iterdir())


def test_download_flag_reaches_torchvision(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="network access attempted"):
        MNISTDataModule(str(tmp_path), download=True).prepare_data()


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10", "cifar100"])
def test_configs_instantiate(tmp_path: Path, name: str) -> None:
    cfg = OmegaConf.merge(
        {"paths": {"data_dir": str(tmp_path)}, "T": 4}, {"data": OmegaConf.load(CONF / f"{name}.yaml")}
    )
    dm = instantiate(cfg.data, kind="data")
    assert dm.data_dir == str(tmp_path) and not dm.download and not dm.time_first
    assert np.prod(dm.input_shape) > 0

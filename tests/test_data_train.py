"""End to end: `train.py` with each real-data config on tiny fake sets in the real on-disk formats."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from fake_datasets import (
    forbid_network,
    skip_cifar_md5,
    write_cifar,
    write_cifar10dvs,
    write_dvsgesture,
    write_mnist,
    write_nmnist,
    write_shd,
)
from hydra import compose, initialize_config_dir
from training_helpers import compose_run

from snnlab.conf import CONFIG_DIR
from snnlab.training import run_training
from snnlab.training.run.lifecycle import prepare

pytestmark = pytest.mark.slow  # end-to-end training runs on every data set (make test-fast skips them)
ROOT = Path(__file__).resolve().parents[1]
ONE_EPOCH = ["trainer.max_epochs=1", "trainer.accelerator=cpu", "data.num_workers=0", "data.batch_size=8", "T=2"]


def check_one_epoch_summary(out_dir: Path) -> dict:
    """The run in ``out_dir`` finished one epoch of at least one step and scored every test sample once: the
    energy callback counted ``n > 0`` test samples and the accuracy is a fraction ``k / n``."""
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["epochs"] == 1 and summary["step"] >= 1, summary
    assert summary["output_dir"] == str(out_dir) and (out_dir / "checkpoints" / "last.ckpt").is_file()
    n, acc = summary["energy"]["samples"], summary["test_acc"]
    assert n > 0 and isinstance(acc, float) and 0.0 <= acc <= 1.0, (n, acc)
    assert acc * n == pytest.approx(round(acc * n), abs=1e-3), f"test_acc {acc} is no fraction of {n} samples"
    assert math.isfinite(summary["test_loss"]) and summary["test_loss"] > 0
    return summary


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    write_nmnist(root, per_class=2)
    write_dvsgesture(root, users=1)
    write_cifar10dvs(root, per_class=10)
    write_shd(root)
    write_cifar(root)
    write_mnist(root)
    return root


@pytest.mark.parametrize(
    "overrides",
    [
        ["data=nmnist"],
        ["data=dvsgesture", "data.size=16", "data.T_train=1", "data.augment=spikformer"],
        ["data=cifar10dvs", "data.size=16"],
        ["data=shd", "model=mlp", "data.channels=70"],
        [
            "data=cifar10",
            "data.autoaugment=true",
            "data.cutout=8",
            "data.erase={p: 1.0}",
            "data.randaugment=rand-m9-n1-mstd0.4-inc1",
            "data.randaugment_ops=spikformer",
            "data.random_erasing={p: 0.25}",
            "encoder=poisson",
            "data.mean=[0.4914,0.4822,0.4465]",
            "data.std=[0.2023,0.1994,0.2010]",
        ],
        ["data=mnist", "data.affine={degrees: 30, translate: [0.15, 0.15], scale: [0.85, 1.11]}"],
    ],
    ids=lambda o: o[0],
)
def test_train_one_epoch(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, overrides) -> None:
    forbid_network(monkeypatch)
    skip_cifar_md5(monkeypatch)
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", [*overrides, *ONE_EPOCH, f"paths.data_dir={data_dir}", f"paths.output_dir={tmp_path}"])
    run_training(cfg)
    check_one_epoch_summary(tmp_path)


def test_train_py_command_line(data_dir: Path, tmp_path: Path) -> None:
    """The command a user types, in a fresh process (no patches: N-MNIST needs none)."""
    cmd = [
        sys.executable,
        "train.py",
        "data=nmnist",
        *ONE_EPOCH,
        f"paths.data_dir={data_dir}",
        f"hydra.run.dir={tmp_path}",
    ]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = check_one_epoch_summary(tmp_path)
    assert "data=nmnist" in summary["overrides"]  # Hydra's command line reached the summary


def test_mnist5k_resize_and_channels() -> None:
    """``resize`` and ``channels`` shape the digits for the nets of other data sets; the labels and split stay."""
    from snnlab.data.mnist5k import MNIST5k

    plain, shaped = MNIST5k(), MNIST5k(resize=[32, 32], channels=3)
    assert (plain.input_shape, shaped.input_shape) == ((1, 28, 28), (3, 32, 32))
    plain.setup(), shaped.setup()
    (x, y), (x3, y3) = plain.test_set[0], shaped.test_set[0]
    assert x3.shape == (3, 32, 32) and y3 == y and len(shaped.train_set) == len(plain.train_set)
    assert (x3[0] == x3[2]).all() and x3.min() >= 0 and x3.max() <= 1 and x3.sum() > 0
    assert abs(x3[0].mean() - x.mean()) < 0.02  # the same digit, resized
    same = MNIST5k(resize=[28, 28])
    same.setup()
    assert (same.test_set[0][0] == x).all()
    for bad, match in (({"resize": [32]}, r"resize=\[32\]: must be"), ({"channels": 0}, "channels=0: must be")):
        with pytest.raises(ValueError, match=match):
            MNIST5k(**bad)


def test_paper_protocol_trains_on_all_and_reports_the_best_test_epoch(tmp_path: Path) -> None:
    """``protocol=paper``: no validation split, the test set is scored every epoch and test_acc is the best epoch's."""

    cfg = compose_run(tmp_path, ["protocol=paper", "trainer.max_epochs=2", "callbacks.energy=null"])
    run = prepare(cfg)
    assert len(run.datamodule.train_set) == 1797 - 360 and run.datamodule.val_dataloader().dataset is not None
    run_training(cfg)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["protocol"] == "paper" and summary["epochs"] == 2
    assert summary["test_acc"] == pytest.approx(summary["best_val_acc"])
    bad = compose_run(tmp_path / "bad", ["protocol=best"])
    with pytest.raises(ValueError, match=r"protocol='best': valid: heldout .*; paper"):
        prepare(bad)

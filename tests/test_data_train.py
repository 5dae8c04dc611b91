"""End to end: `train.py` with each real-data config on tiny fake sets in the real on-disk formats."""

from __future__ import annotations

import json
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
    write_nmnist,
    write_shd,
)
from hydra import compose, initialize_config_dir

from snnlab.conf import CONFIG_DIR
from snnlab.training import train

ROOT = Path(__file__).resolve().parents[1]
FAST = ["trainer.max_epochs=1", "trainer.accelerator=cpu", "data.num_workers=0", "data.batch_size=8", "T=2"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    write_nmnist(root, per_class=2)
    write_dvsgesture(root, users=1)
    write_cifar10dvs(root, per_class=10)
    write_shd(root)
    write_cifar(root)
    return root


@pytest.mark.parametrize(
    "overrides",
    [
        ["data=nmnist"],
        ["data=dvsgesture", "data.size=16"],
        ["data=cifar10dvs", "data.size=16"],
        ["data=shd", "model=mlp", "data.channels=70"],
        ["data=cifar10", "data.autoaugment=true", "data.cutout=8"],
    ],
    ids=lambda o: o[0],
)
def test_train_one_epoch(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, overrides) -> None:
    forbid_network(monkeypatch)
    skip_cifar_md5(monkeypatch)
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", [*overrides, *FAST, f"paths.data_dir={data_dir}", f"paths.output_dir={tmp_path}"])
    train(cfg)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["test_acc"] is not None and summary["epochs"] == 1


def test_train_py_command_line(data_dir: Path, tmp_path: Path) -> None:
    """The command a user types, in a fresh process (no patches: N-MNIST needs none)."""
    cmd = [sys.executable, "train.py", "data=nmnist", *FAST, f"paths.data_dir={data_dir}", f"hydra.run.dir={tmp_path}"]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((tmp_path / "summary.json").read_text())["test_acc"] is not None

"""The built wheel works on its own: from a folder outside the repository, ``snnlab train`` finds the configs
shipped inside the package, and a user project adds its own model and config with ``--config-dir``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # builds and installs the wheel, runs it in subprocesses (make test-fast skips them)
REPO = Path(__file__).resolve().parents[1]

USER_MODEL = '''
from torch import nn

from snnlab import layers


def tiny(input_shape, num_classes, make_neuron, norm, dropout, spiking_head=False, hidden=32):
    """A user's own network: flatten, one hidden spiking layer, linear readout."""
    features = 1
    for size in input_shape:
        features *= size
    return nn.Sequential(
        layers.Flatten(step_mode="m"),
        layers.Linear(features, hidden, step_mode="m"),
        norm.pre(hidden, dims=1),
        make_neuron(),
        layers.Linear(hidden, num_classes, step_mode="m"),
    )
'''
USER_CONFIG = """_target_: my_models.tiny  # the project's builder, by import path
_partial_: true
hidden: 24
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from this checkout, installed into a folder of its own (put first on PYTHONPATH)."""
    root = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(root), str(REPO)],
        check=True,
    )
    wheel = next(root.glob("snnlab-*.whl"))
    target = root / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)], check=True
    )
    return target


def snnlab(installed: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(installed)}
    return subprocess.run(
        [sys.executable, "-m", "snnlab", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_the_wheel_ships_its_configs_and_trains_outside_the_repo(installed: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(installed)}
    code = "import snnlab; print(snnlab.__file__)"
    imported = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert Path(imported.stdout.strip()).is_relative_to(installed)  # the wheel, not this checkout
    where = snnlab(installed, tmp_path, "inspect", "--json")
    assert where.returncode == 0, where.stderr
    assert json.loads(where.stdout)["model"] == "cnn"
    assert (installed / "snnlab" / "conf" / "train.yaml").is_file()
    done = snnlab(installed, tmp_path, "train", "debug=fdr", "data=digits", "callbacks.progress=null")
    assert done.returncode == 0, done.stderr[-2000:]
    (summary,) = (tmp_path / "outputs").rglob("summary.json")
    assert json.loads(summary.read_text())["status"] == "finished"


def test_a_run_of_the_wheel_exports_to_nir(installed: Path, tmp_path: Path) -> None:
    nir = pytest.importorskip("nir")
    overrides = ["model=mlp", "model.hidden=[32]", "data=digits", "trainer.max_epochs=1", "callbacks.progress=null"]
    done = snnlab(installed, tmp_path, "train", *overrides)
    assert done.returncode == 0, done.stderr[-2000:]
    (run_dir,) = (tmp_path / "outputs" / "train" / "runs").iterdir()
    exported = snnlab(installed, tmp_path, "export", str(run_dir), "--format", "nir", "-o", "f.nir")
    assert exported.returncode == 0, exported.stderr[-2000:]
    graph = nir.read(tmp_path / "f.nir")
    kinds = {type(node).__name__ for node in graph.nodes.values()}
    assert {"Affine", "LIF"} <= kinds, kinds  # the mlp: linear layers (BN folded in) and LIF neurons


def test_a_user_project_adds_its_model_and_config(installed: Path, tmp_path: Path) -> None:
    (tmp_path / "my_models.py").write_text(USER_MODEL)
    (tmp_path / "conf" / "model").mkdir(parents=True)
    (tmp_path / "conf" / "model" / "tiny.yaml").write_text(USER_CONFIG)
    done = snnlab(
        installed, tmp_path, "train", "--config-dir", "conf", "model=tiny", "data=digits", "trainer.max_epochs=1",
        "callbacks.progress=null",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    (summary,) = (tmp_path / "outputs").rglob("summary.json")
    result = json.loads(summary.read_text())
    assert result["params"] == 64 * 24 + 24 + 24 * 2 + 24 * 10 + 10  # flatten 8×8 → 24 (BN 2·24) → 10

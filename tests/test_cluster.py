"""Beyond one process, with existing engines: sweeps through hydra-submitit-launcher (its local executor here, SLURM
on a cluster) and Optuna trials from several workers sharing one RDB storage."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from training_helpers import FAST, TINY_CNN

from snnlab.conf import CONFIG_DIR

pytestmark = pytest.mark.slow  # submitit sweeps and Optuna workers in subprocesses (make test-fast skips them)
ROOT = Path(__file__).resolve().parents[1]
TINY = [*FAST, *TINY_CNN, "trainer.max_epochs=1", "+trainer.limit_train_batches=4", "+trainer.limit_val_batches=2"]
TINY += ["+trainer.limit_test_batches=2"]


def test_submitit_local_sweep(tmp_path: Path) -> None:
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    args = ["-m", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=5", f"hydra.sweep.dir={tmp_path}"]
    cmd = [sys.executable, "train.py", *args, *TINY, "seed=3"]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads((tmp_path / "0" / "summary.json").read_text())
    assert summary["status"] == "finished" and "seed=3" in summary["overrides"]


def test_slurm_launcher_preset_matches_the_trainer() -> None:
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    overrides = ["hydra/launcher=slurm_ddp", "trainer=ddp", "trainer.devices=4", "trainer.num_nodes=2"]
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.tasks_per_node, launcher.gpus_per_node, launcher.nodes) == (4, 4, 2)


def test_two_optuna_workers_share_one_sqlite_study(tmp_path: Path) -> None:
    optuna = pytest.importorskip("optuna")
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    create = ["create-study", "--study-name", "snnlab", "--storage", storage, "--direction", "maximize"]
    subprocess.run([str(Path(sys.executable).parent / "optuna"), *create, "--skip-if-exists"], check=True)
    sweep = ["hparams_search=optuna", "hydra.sweeper.n_trials=1", f"hydra.sweeper.storage={storage}"]
    workers = [
        subprocess.Popen(
            [sys.executable, "train.py", *sweep, *TINY, f"hydra.sweep.dir={tmp_path / str(i)}"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    for worker in workers:
        out = worker.communicate(timeout=300)[0]
        assert worker.returncode == 0, out
    study = optuna.load_study(study_name="snnlab", storage=storage)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE"]

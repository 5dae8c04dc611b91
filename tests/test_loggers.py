"""``logger=wandb`` (offline) and ``logger=mlflow`` (a file store in the run folder): a one-epoch tiny run through
``train.py`` writes each logger's files next to the CSV log, with every network address pointed at a closed port.

The packages are the ``loggers`` optional dependencies (in ``dev``); without them these skip, except in CI.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from training_helpers import FAST, TINY_CNN

pytestmark = pytest.mark.slow  # whole runs in subprocesses (W&B starts its own service process)
ROOT = Path(__file__).resolve().parents[1]
RUN = [*FAST, *TINY_CNN, "trainer.max_epochs=1", "+trainer.limit_train_batches=2", "+trainer.limit_val_batches=1"]
RUN += ["+trainer.limit_test_batches=1"]
CLOSED = "http://127.0.0.1:9"
"""The discard port: nothing listens there, so any network access fails."""


def train(run_dir: Path, logger: str) -> None:
    """``python train.py logger=<logger>`` offline, with W&B's settings and caches under ``run_dir``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "MLFLOW_"))}
    env |= {"HTTP_PROXY": CLOSED, "HTTPS_PROXY": CLOSED, "http_proxy": CLOSED, "https_proxy": CLOSED}
    env |= {"NO_PROXY": "", "no_proxy": "", "WANDB_BASE_URL": CLOSED, "WANDB_MODE": "offline"}
    env |= {f"WANDB_{k}_DIR": str(run_dir / "home" / k.lower()) for k in ("CONFIG", "CACHE", "DATA", "ARTIFACT")}
    cmd = [sys.executable, str(ROOT / "train.py"), *RUN, f"logger={logger}", f"hydra.run.dir={run_dir}"]
    out = subprocess.run(cmd, cwd=run_dir.parent, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert (run_dir / "csv/metrics.csv").is_file()  # the CSV log is kept


def test_wandb_writes_an_offline_run(tmp_path: Path) -> None:
    pytest.importorskip("wandb", reason="needs wandb: the loggers extra (pip install -e '.[loggers]')")
    train(tmp_path / "run", "wandb")
    (run,) = (tmp_path / "run/wandb").glob("offline-run-*")
    (records,) = run.glob("run-*.wandb")
    data = records.read_bytes()
    assert b"val/acc" in data and b"test/acc" in data


def test_mlflow_writes_a_file_store_with_the_metrics(tmp_path: Path) -> None:
    pytest.importorskip("mlflow", reason="needs mlflow-skinny: the loggers extra (pip install -e '.[loggers]')")
    train(tmp_path / "run", "mlflow")
    (metrics,) = (tmp_path / "run/mlruns").glob("*/*/metrics")
    for name in ("train/loss", "val/acc", "test/acc"):
        value = float((metrics / name).read_text().split()[1])  # "<timestamp> <value> <step>"
        assert 0.0 <= value < 100.0, name

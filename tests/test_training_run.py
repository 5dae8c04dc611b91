"""End to end: run outputs, resume from last.ckpt, evaluation of a finished run, multirun + collect_results."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from training_helpers import FAST, compose_run

from snnlab.training import evaluate, train

ROOT = Path(__file__).resolve().parents[1]
ONE_EPOCH = ["trainer.max_epochs=1", "+trainer.limit_train_batches=10"]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("run")
    train(compose_run(run_dir, ONE_EPOCH))
    return run_dir


def test_run_writes_everything(finished_run: Path) -> None:
    summary = json.loads((finished_run / "summary.json").read_text())
    for key in ("test_acc", "params", "wall_time_s", "train_samples_per_s", "firing_rates", "versions", "git_commit"):
        assert key in summary
    assert 0.0 <= summary["test_acc"] <= 1.0 and summary["firing_rates"]
    for name in ("config.yaml", "csv/metrics.csv", "curves.png", "checkpoints/last.ckpt"):
        assert (finished_run / name).is_file(), name
    assert list((finished_run / "checkpoints").glob("best*.ckpt"))
    ckpt = torch.load(finished_run / "checkpoints/last.ckpt", weights_only=False)
    assert ckpt["snnlab_config"]["model"]["channels"] == [4, 8]


def test_resume_continues_epochs_and_metrics(finished_run: Path, tmp_path: Path) -> None:
    last = finished_run / "checkpoints/last.ckpt"
    overrides = ["trainer.max_epochs=2", "+trainer.limit_train_batches=10", f"ckpt_path={last}"]
    train(compose_run(tmp_path, overrides))
    assert json.loads((tmp_path / "summary.json").read_text())["epochs"] == 2
    fit_rows = pd.read_csv(tmp_path / "csv/metrics.csv").dropna(subset=["val/acc"])
    assert fit_rows["epoch"].tolist() == [1]  # only the new epoch, numbered on
    assert fit_rows["step"].min() >= 10  # the global step continues after the first run's 10 steps


def test_evaluate_reproduces_test_accuracy(finished_run: Path) -> None:
    summary = json.loads((finished_run / "summary.json").read_text())
    metrics = evaluate(finished_run, "best", accelerator="cpu")
    assert metrics["test/acc"] == pytest.approx(summary["test_acc"], abs=1e-6)


def test_multirun_and_collect_results(tmp_path: Path) -> None:
    sweep = tmp_path / "multi"
    overrides = [o for o in FAST if not o.startswith("+trainer.enable")] + ONE_EPOCH
    cmd = [sys.executable, "train.py", "-m", *overrides, "norm=bn,bntt", f"hydra.sweep.dir={sweep}"]
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0", "1"]
    subprocess.run(
        [sys.executable, "scripts/collect_results.py", str(sweep)], cwd=ROOT, check=True, capture_output=True
    )
    table = pd.read_csv(sweep / "results.csv")
    assert table["overrides"].str.contains("norm=bn").sum() == 2 and len(table) == 2
    assert (sweep / "results.md").is_file() and (sweep / "results.png").is_file()

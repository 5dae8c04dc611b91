"""End to end: run outputs, evaluation of a finished run, the terminal output, multirun + collect_results."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from rich.console import Console
from training_helpers import FAST, TINY_CNN, compose_run

from snnlab.training import evaluate, run_training
from snnlab.training.callbacks.model_summary import ModelSummary
from snnlab.training.reports.summary import print_summary

ROOT = Path(__file__).resolve().parents[1]
ONE_EPOCH = ["trainer.max_epochs=1", "+trainer.limit_train_batches=10"]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("run")
    run_training(compose_run(run_dir, ["trainer.max_epochs=2", "+trainer.limit_train_batches=10"]))
    return run_dir


@pytest.mark.slow
def test_run_writes_everything(finished_run: Path) -> None:
    summary = json.loads((finished_run / "summary.json").read_text())
    for key in ("test_acc", "params", "wall_time_s", "train_samples_per_s", "firing_rates", "versions", "git_commit"):
        assert key in summary
    assert summary["status"] == "finished" and summary["epochs"] == 2
    assert 0.0 <= summary["test_acc"] <= 1.0 and summary["firing_rates"]
    for name in ("config.yaml", "csv/metrics.csv", "curves.png", "checkpoints/last.ckpt"):
        assert (finished_run / name).is_file(), name
    assert Path(summary["best_checkpoint"]).is_file() and summary["last_checkpoint"].endswith("last.ckpt")
    last = torch.load(finished_run / "checkpoints/last.ckpt", weights_only=True)
    assert last["snnlab_config"]["model"]["channels"] == [4, 8] and last["epoch"] == 1


@pytest.mark.slow
def test_evaluate_reproduces_test_accuracy(finished_run: Path) -> None:
    summary = json.loads((finished_run / "summary.json").read_text())
    metrics = evaluate(finished_run, "best", accelerator="cpu")
    assert metrics["test/acc"] == pytest.approx(summary["test_acc"], abs=1e-6)
    assert evaluate(finished_run, "last", accelerator="cpu")["checkpoint"].endswith("last.ckpt")


def test_summary_shows_the_whole_run_path_on_80_columns() -> None:
    out = io.StringIO()
    path = "/scratch/someone/projects/snn/outputs/train/runs/2026-01-01_12-00-00_123456"
    print_summary({"status": "finished", "test_acc": 0.98, "output_dir": path}, Console(file=out, width=80))
    assert path in out.getvalue().replace("\n", "")
    assert f"run folder: {path}" in out.getvalue()


def test_model_table_has_no_empty_flops_column(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr("snnlab.training.callbacks.model_summary.get_console", lambda: Console(file=out, width=120))
    data = [(" ", ["0"]), ("Name", ["net"]), ("Type", ["Sequential"]), ("Params", ["1.1 K"]), ("FLOPs", ["0"])]
    ModelSummary.summarize(data, 1078, 1078, 0.004, {"train": 1, "eval": 0}, total_flops=0)
    assert "Sequential" in out.getvalue() and "FLOPs" not in out.getvalue()


@pytest.mark.slow
def test_multirun_and_collect_results(tmp_path: Path) -> None:
    sweep = tmp_path / "multi"
    overrides = [o for o in FAST if not o.startswith("+trainer.enable")] + TINY_CNN + ONE_EPOCH
    cmd = [sys.executable, "train.py", "-m", *overrides, "norm=bn,bntt", f"hydra.sweep.dir={sweep}"]
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0", "1"]
    subprocess.run(
        [sys.executable, "scripts/collect_results.py", str(sweep)], cwd=ROOT, check=True, capture_output=True
    )
    table = pd.read_csv(sweep / "results.csv")
    assert table["overrides"].str.contains("norm=bn").sum() == 2 and len(table) == 2
    assert (sweep / "results.md").is_file() and (sweep / "results.png").is_file()

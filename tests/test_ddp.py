"""DDP on the CPU: two processes give the result of one with the same global batch; only rank 0 writes files and
prints; batch-norm sync is off on the CPU; a -m sweep of DDP jobs is refused before it starts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from training_helpers import FAST, compose_run

from snnlab.training.run.preflight import sync_batchnorm

pytestmark = pytest.mark.slow  # multi-process DDP runs (make test-fast skips them)
ROOT = Path(__file__).resolve().parents[1]
# An MLP without norm layers (per-process batch statistics would differ from one process's) that learns a bit.
RUN = [*FAST, "model=mlp", "model.hidden=[64]", "norm=none", "optim.lr=0.01", "trainer=ddp", "trainer.accelerator=cpu"]
RUN += ["trainer.max_epochs=2", "+trainer.limit_train_batches=8", "+trainer.limit_test_batches=6"]


def train_cli(runs: dict[Path, list[str]]) -> list[tuple[dict, str]]:
    """``python train.py`` with :data:`RUN` and each run's overrides, all at once: ``[(summary, output)]``."""
    procs = [
        subprocess.Popen(
            [sys.executable, "train.py", *RUN, *overrides, f"hydra.run.dir={run_dir}"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for run_dir, overrides in runs.items()
    ]
    outputs = [proc.communicate(timeout=300)[0] for proc in procs]
    for proc, out in zip(procs, outputs):
        assert proc.returncode == 0, out
    return [(json.loads((d / "summary.json").read_text()), out) for d, out in zip(runs, outputs)]


def test_two_cpu_processes_equal_one_with_the_same_global_batch(tmp_path: Path) -> None:
    runs = {
        tmp_path / "one": ["trainer.devices=1", "data.batch_size=16"],
        tmp_path / "two": ["trainer.devices=2", "data.batch_size=8"],
    }
    (one, one_out), (two, out) = train_cli(runs)
    assert one["test_acc"] > 0.2  # it learnt something, so equality means something
    for key in ("test_acc", "test_loss", "best_val_acc"):  # metrics reduced over both ranks' halves
        assert two[key] == pytest.approx(one[key], rel=1e-4, abs=1e-6), key
    assert two["firing_rates"] == pytest.approx(one["firing_rates"], rel=1e-4)
    assert two["step"] == one["step"] == 16 and two["train_samples_per_s"] > 0
    assert out.count("snnlab run") == 1  # rank 0 prints the summary, once
    assert one_out.count("GPU available:") == 1 and "Tip:" not in one_out + out  # each log line once, no ads
    written = sorted(p.name for p in (tmp_path / "two").iterdir())
    assert written == sorted(p.name for p in (tmp_path / "one").iterdir())  # no second rank's files


def test_batch_norm_sync_is_on_only_where_torch_has_it(tmp_path: Path) -> None:
    cfg = compose_run(tmp_path, ["trainer=ddp", "trainer.devices=2"])
    assert cfg.trainer.sync_batchnorm == "auto" and sync_batchnorm(cfg.trainer) is False  # CPU here
    cfg.trainer.accelerator = "gpu"
    assert sync_batchnorm(cfg.trainer) is True


def test_multirun_of_ddp_jobs_is_refused_before_it_starts(tmp_path: Path) -> None:
    cmd = [sys.executable, str(ROOT / "train.py"), "-m", "trainer=ddp", "trainer.devices=2", "seed=0,1"]
    result = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "a -m multirun cannot start a process per device" in result.stderr
    assert "hydra/launcher=submitit_slurm" in result.stderr  # the alternative
    assert not (tmp_path / "outputs").exists()

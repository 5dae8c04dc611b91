"""Runs that survive: ``last.ckpt`` is the last finished epoch; a kill -9 loses at most the unfinished epoch; SIGTERM
and Ctrl-C write a checkpoint of the current step and exit non-zero; a resumed run continues exactly and its outputs
cover every epoch; resuming with another model or data is refused, a new schedule is applied as documented."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from training_helpers import FAST, TINY_CNN, compose_run

from snnlab.training import train

ROOT = Path(__file__).resolve().parents[1]
RUN = ["trainer.max_epochs=3", "+trainer.limit_train_batches=6", "optim.lr=0.01"]  # 6 steps per epoch


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def fit_epochs(run_dir: Path) -> list[int]:
    """The epochs of ``csv/metrics.csv`` that have validation metrics."""
    return pd.read_csv(run_dir / "csv/metrics.csv").dropna(subset=["val/acc"])["epoch"].astype(int).tolist()


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The uninterrupted run."""
    run_dir = tmp_path_factory.mktemp("reference")
    train(compose_run(run_dir, RUN))
    return run_dir


def start_paused(run_dir: Path, seconds: float) -> tuple[subprocess.Popen, Path]:
    """``python train.py`` with :data:`RUN` that pauses at batch 3 of epoch 1; returns it and its pause marker."""
    marker = run_dir.parent / f"{run_dir.name}.paused"
    pause = ["epoch=1", "batch=3", f"marker={marker}", f"seconds={seconds}"]
    args = [*FAST, *TINY_CNN, *RUN, f"hydra.run.dir={run_dir}", "+callbacks.pause._target_=training_helpers.PauseAt"]
    args += [f"+callbacks.pause.{a}" for a in pause]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}
    proc = subprocess.Popen(
        [sys.executable, "train.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()[0]
        time.sleep(0.05)
    return proc, run_dir / "checkpoints" / "last.ckpt"


def test_last_checkpoint_is_the_last_epoch(reference: Path) -> None:
    last = torch.load(reference / "checkpoints/last.ckpt", weights_only=True)
    assert (last["epoch"], last["global_step"]) == (2, 18)
    assert summary(reference)["status"] == "finished" and fit_epochs(reference) == [0, 1, 2]


def test_kill_9_mid_epoch_then_resume_loses_only_that_epoch(tmp_path: Path, reference: Path) -> None:
    proc, last = start_paused(tmp_path / "killed", seconds=60)
    proc.kill()
    proc.communicate()
    checkpoint = torch.load(last, weights_only=True)
    assert (checkpoint["epoch"], checkpoint["global_step"]) == (0, 6)  # epoch 0 finished, epoch 1 lost

    train(compose_run(tmp_path / "resumed", [*RUN, f"ckpt_path={last}"]))
    resumed, expected = summary(tmp_path / "resumed"), summary(reference)
    assert resumed["resumed_at_epoch"] == 1 and resumed["epochs"] == 3 and resumed["step"] == expected["step"]
    assert fit_epochs(tmp_path / "resumed") == [0, 1, 2]  # the whole history, each epoch once
    for key in ("test_acc", "test_loss", "best_val_acc"):  # optimizer, schedule, RNG and best all restored
        assert resumed[key] == pytest.approx(expected[key], rel=1e-5), key
    assert Path(resumed["best_checkpoint"]).parent == tmp_path / "resumed/checkpoints"
    assert Path(resumed["best_checkpoint"]).is_file() and (tmp_path / "resumed/curves.png").is_file()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_writes_a_resumable_checkpoint_and_exits_non_zero(
    tmp_path: Path, reference: Path, signum: signal.Signals
) -> None:
    proc, last = start_paused(tmp_path / "stopped", seconds=2)
    proc.send_signal(signum)
    out = proc.communicate()[0]
    assert proc.returncode == 128 + signum, out
    step = torch.load(last, weights_only=True)["global_step"]
    assert 6 < step < 18  # the step it stopped at, inside epoch 1
    stopped = summary(tmp_path / "stopped")
    assert stopped["status"] == f"interrupted ({signum.name})" and stopped["step"] == step
    assert f"ckpt_path={last}" in out

    train(compose_run(tmp_path / "resumed", [*RUN, f"ckpt_path={last}"]))
    assert summary(tmp_path / "resumed")["step"] == summary(reference)["step"]
    assert fit_epochs(tmp_path / "resumed") == [0, 1, 2]


def test_resume_refuses_another_model_or_finished_epochs(tmp_path: Path, reference: Path) -> None:
    last = reference / "checkpoints/last.ckpt"
    with pytest.raises(ValueError, match=r"(?s)other model or data settings.*T: 2 -> 3.*model.hidden: 16 -> 32"):
        train(compose_run(tmp_path, [*RUN, "model.hidden=32", "T=3", f"ckpt_path={last}"]))
    with pytest.raises(ValueError, match=r"trainer.max_epochs=3: the checkpoint has finished 3 epochs"):
        train(compose_run(tmp_path, [*RUN, f"ckpt_path={last}"]))
    assert not any(tmp_path.iterdir())


def test_resume_with_more_epochs_follows_the_new_schedule(tmp_path: Path, reference: Path) -> None:
    overrides = ["trainer.max_epochs=5", "optim.lr=0.02", f"ckpt_path={reference / 'checkpoints/last.ckpt'}"]
    train(compose_run(tmp_path, [*RUN, *overrides]))
    changed = summary(tmp_path)["changed_on_resume"]
    assert changed["trainer.max_epochs"] == [3, 5] and changed["optim.lr"] == [0.01, 0.02]
    lr = pd.read_csv(tmp_path / "csv/metrics.csv").dropna(subset=["lr"]).set_index("epoch")["lr"]
    for epoch in (3, 4):  # cosine over the new 5 epochs from the new rate, as if the run had started with them
        assert lr[epoch] == pytest.approx(0.01 * (1 + math.cos(math.pi * epoch / 5)), rel=1e-5)

"""The timm training stack together: warm-up cosine, Mixup and EMA in one run, stopped by SIGTERM in the middle of
an epoch and resumed, follows the uninterrupted run's learning-rate curve and averages as many steps."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from training_helpers import FAST, compose_run

from snnlab.training import run_training

pytestmark = pytest.mark.slow  # three whole runs, one of them in a subprocess
ROOT = Path(__file__).resolve().parents[1]
STACK = ["scheduler=warmup_cosine", "scheduler.cooldown_epochs=1", "augment.mixup.alpha=0.5"]
STACK += ["ema.decay=0.99", "ema.warmup=true"]
RUN = ["model=mlp", "model.hidden=[32]", "trainer.max_epochs=2", "+trainer.limit_train_batches=6"]
RUN += ["+trainer.limit_val_batches=2", "+trainer.limit_test_batches=2", *STACK]


def epoch_lr(run_dir: Path) -> list[float]:
    return pd.read_csv(run_dir / "csv/metrics.csv").dropna(subset=["lr"]).sort_values("epoch")["lr"].tolist()


def ema_updates(run_dir: Path) -> int:
    return torch.load(run_dir / "checkpoints/last.ckpt", weights_only=True)["ema"]["updates"]


def test_sigterm_mid_epoch_then_resume_follows_the_uninterrupted_run(tmp_path: Path) -> None:
    whole = tmp_path / "whole"
    run_training(compose_run(whole, RUN))
    assert len(epoch_lr(whole)) == 3  # 2 epochs of cosine + 1 of cooldown

    stopped, marker = tmp_path / "stopped", tmp_path / "paused"
    pause = ["epoch=1", "batch=3", f"marker={marker}", "seconds=30"]
    args = [*FAST, *RUN, f"hydra.run.dir={stopped}", "+callbacks.pause._target_=training_helpers.PauseAt"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}
    proc = subprocess.Popen(
        [sys.executable, "train.py", *args, *(f"+callbacks.pause.{a}" for a in pause)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()[0]
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait() == 128 + signal.SIGTERM, proc.communicate()[0]

    resumed = tmp_path / "resumed"
    run_training(compose_run(resumed, [*RUN, f"ckpt_path={stopped / 'checkpoints/last.ckpt'}"]))
    assert epoch_lr(resumed) == pytest.approx(epoch_lr(whole), rel=1e-6)
    assert ema_updates(resumed) == ema_updates(whole) == 18

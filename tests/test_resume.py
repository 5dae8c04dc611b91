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
from training_helpers import FAST, compose_run

from snnlab.training import run_training

pytestmark = pytest.mark.slow  # whole runs, killed and resumed in subprocesses (make test-fast skips them)
ROOT = Path(__file__).resolve().parents[1]
# A small MLP that learns within these 18 steps (so equal results mean an equal run), 6 steps per epoch.
RUN = ["model=mlp", "model.hidden=[32]", "optim.lr=0.01", "trainer.max_epochs=3", "+trainer.limit_train_batches=6"]
RUN += ["+trainer.limit_val_batches=3", "+trainer.limit_test_batches=3"]
PAUSE = "training_helpers.PauseAt"
STOPS = {"kill -9": signal.SIGKILL, "SIGTERM": signal.SIGTERM, "SIGINT": signal.SIGINT}


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def fit_epochs(run_dir: Path) -> list[int]:
    """The epochs of ``csv/metrics.csv`` that have validation metrics."""
    return pd.read_csv(run_dir / "csv/metrics.csv").dropna(subset=["val/acc"])["epoch"].astype(int).tolist()


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The uninterrupted run."""
    run_dir = tmp_path_factory.mktemp("reference")
    run_training(compose_run(run_dir, RUN))
    return run_dir


@pytest.fixture(scope="module")
def stopped(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, int, str]]:
    """``python train.py`` with :data:`RUN`, stopped by each of :data:`STOPS` during batch 3 of epoch 1 (the three
    run at once): ``{name: (run folder, exit code, output)}``."""
    base = tmp_path_factory.mktemp("stopped")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}
    procs = {}
    for name in STOPS:
        run_dir, marker = base / name.replace(" ", ""), base / f"{name}.paused"
        pause = ["epoch=1", "batch=3", f"marker={marker}", f"seconds={60 if name == 'kill -9' else 3}"]
        args = [*FAST, *RUN, f"hydra.run.dir={run_dir}", f"+callbacks.pause._target_={PAUSE}"]
        args += [f"+callbacks.pause.{a}" for a in pause]
        pipe = subprocess.PIPE
        proc = subprocess.Popen(
            [sys.executable, "train.py", *args], cwd=ROOT, env=env, stdout=pipe, stderr=pipe, text=True
        )
        procs[name] = (proc, run_dir, marker)
    waiting = dict(procs)
    while waiting:  # signal each run as soon as it pauses
        for name, (proc, _, marker) in list(waiting.items()):
            assert proc.poll() is None, proc.communicate()
            if marker.exists():
                proc.send_signal(STOPS[name])
                del waiting[name]
        time.sleep(0.05)
    return {name: (run_dir, proc.wait(), "".join(proc.communicate())) for name, (proc, run_dir, _) in procs.items()}


def test_last_checkpoint_is_the_last_epoch(reference: Path) -> None:
    last = torch.load(reference / "checkpoints/last.ckpt", weights_only=True)
    assert (last["epoch"], last["global_step"]) == (2, 18)
    assert summary(reference)["status"] == "finished" and fit_epochs(reference) == [0, 1, 2]


def test_best_and_last_are_kept_apart_and_both_carried_into_a_resumed_run(tmp_path: Path) -> None:
    frozen = [*RUN, "optim.lr=0", "callbacks.bn_recalibration=null"]  # val/acc never improves: best stays epoch 0
    run_training(compose_run(tmp_path / "first", [*frozen, "trainer.max_epochs=2"]))
    assert torch.load(tmp_path / "first/checkpoints/last.ckpt", weights_only=True)["epoch"] == 1
    last = tmp_path / "first/checkpoints/last.ckpt"
    run_training(compose_run(tmp_path / "resumed", [*frozen, f"ckpt_path={last}"]))
    first, resumed = summary(tmp_path / "first"), summary(tmp_path / "resumed")
    assert resumed["best_checkpoint"] == str(tmp_path / "resumed/checkpoints/best-epoch000.ckpt")  # copied over
    assert Path(resumed["best_checkpoint"]).is_file() and resumed["best_val_acc"] == first["best_val_acc"]


def test_kill_9_mid_epoch_then_resume_loses_only_that_epoch(
    tmp_path: Path, reference: Path, stopped: dict[str, tuple[Path, int, str]]
) -> None:
    killed, code, _ = stopped["kill -9"]
    assert code == -signal.SIGKILL
    last = killed / "checkpoints/last.ckpt"
    checkpoint = torch.load(last, weights_only=True)
    assert (checkpoint["epoch"], checkpoint["global_step"]) == (0, 6)  # epoch 0 finished, epoch 1 lost

    run_training(compose_run(tmp_path, [*RUN, f"ckpt_path={last}"]))
    resumed, expected = summary(tmp_path), summary(reference)
    assert resumed["resumed_at_epoch"] == 1 and resumed["epochs"] == 3 and resumed["step"] == expected["step"]
    assert fit_epochs(tmp_path) == [0, 1, 2]  # the whole history, each epoch once
    for key in ("test_acc", "test_loss", "best_val_acc"):  # optimizer, schedule, RNG and best all restored
        assert resumed[key] == pytest.approx(expected[key], rel=1e-5), key
    assert Path(resumed["best_checkpoint"]).parent == tmp_path / "checkpoints"
    assert Path(resumed["best_checkpoint"]).is_file() and (tmp_path / "curves.png").is_file()


@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT"])
def test_signal_writes_a_checkpoint_of_the_step_and_exits_non_zero(
    name: str, stopped: dict[str, tuple[Path, int, str]]
) -> None:
    run_dir, code, out = stopped[name]
    assert code == 128 + STOPS[name], out
    last = run_dir / "checkpoints/last.ckpt"
    step = torch.load(last, weights_only=True)["global_step"]
    assert 6 < step < 12  # the step it stopped at, inside epoch 1
    assert summary(run_dir)["status"] == f"interrupted ({name})" and summary(run_dir)["step"] == step
    assert f"ckpt_path={last}" in out


def test_resume_after_sigterm_finishes_the_run(
    tmp_path: Path, reference: Path, stopped: dict[str, tuple[Path, int, str]]
) -> None:
    run_training(compose_run(tmp_path, [*RUN, f"ckpt_path={stopped['SIGTERM'][0] / 'checkpoints/last.ckpt'}"]))
    assert summary(tmp_path)["step"] == summary(reference)["step"]
    assert fit_epochs(tmp_path) == [0, 1, 2]


def test_requeued_job_resumes_by_itself_in_its_folder(
    reference: Path, stopped: dict[str, tuple[Path, int, str]]
) -> None:
    run_dir = stopped["SIGINT"][0]  # a cluster job restarts with the same command line, in the same folder
    run_training(compose_run(run_dir, RUN))
    assert summary(run_dir)["resumed_from"] == str(run_dir / "checkpoints/last.ckpt")
    assert summary(run_dir)["step"] == summary(reference)["step"] and fit_epochs(run_dir) == [0, 1, 2]


def test_resume_refuses_another_model_or_finished_epochs(tmp_path: Path, reference: Path) -> None:
    last = reference / "checkpoints/last.ckpt"
    with pytest.raises(ValueError, match=r"(?s)other model or data.*T: 2 -> 3.*model.hidden: \[32\] -> \[64\]"):
        run_training(compose_run(tmp_path, [*RUN, "model.hidden=[64]", "T=3", f"ckpt_path={last}"]))
    with pytest.raises(ValueError, match=r"trainer.max_epochs=3: the checkpoint has finished 3 epochs"):
        run_training(compose_run(tmp_path, [*RUN, f"ckpt_path={last}"]))
    assert not any(tmp_path.iterdir())


def test_resume_with_more_epochs_follows_the_new_schedule(tmp_path: Path, reference: Path) -> None:
    overrides = ["trainer.max_epochs=5", "optim.lr=0.02", f"ckpt_path={reference / 'checkpoints/last.ckpt'}"]
    run_training(compose_run(tmp_path, [*RUN, *overrides]))
    changed = summary(tmp_path)["changed_on_resume"]
    assert changed["trainer.max_epochs"] == [3, 5] and changed["optim.lr"] == [0.01, 0.02]
    lr = pd.read_csv(tmp_path / "csv/metrics.csv").dropna(subset=["lr"]).set_index("epoch")["lr"]
    for epoch in (3, 4):  # cosine over the new 5 epochs from the new rate, as if the run had started with them
        assert lr[epoch] == pytest.approx(0.01 * (1 + math.cos(math.pi * epoch / 5)), rel=1e-5)

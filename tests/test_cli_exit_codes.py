"""The installed ``snnlab`` command: exit code 0 and a clean stderr on success, 2 and one error message on a user
error; ``callbacks.progress=null`` shows no progress bar."""

from __future__ import annotations

import re
import subprocess
import sysconfig
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from training_helpers import FAST, TINY_CNN, compose_run

from snnlab.conf import CONFIG_DIR
from snnlab.training import run_training
from snnlab.training.run.lifecycle import prepare

SNNLAB = Path(sysconfig.get_path("scripts")) / "snnlab"
"""The console script of the environment running the tests (``pip install -e .`` writes it)."""


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("run")
    run_training(compose_run(run_dir, ["trainer.max_epochs=1", "+trainer.limit_train_batches=2"]))
    return run_dir


def snnlab(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    assert SNNLAB.is_file(), f"{SNNLAB}: no console script; install the project (pip install -e .)"
    return subprocess.run([str(SNNLAB), *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def assert_clean(stderr: str) -> None:
    """Clean: no traceback, no warning and no Python dict (results go to stdout); Lightning's info lines may stay."""
    assert "Traceback" not in stderr, stderr
    assert not re.search(r"warn", stderr, re.IGNORECASE), stderr
    assert not re.search(r"\{'|^\{", stderr, re.MULTILINE), stderr


SUCCESSES = [
    (["list"], "snnlab components"),
    (["inspect"], "Conv2d"),
    (["inspect", "--json"], '"model": "cnn"'),
    (["eval", "{run}", "--accelerator", "cpu"], '"test/acc"'),
    (["export", "{run}", "-o", "{tmp}/model.nir", "--approximate"], "wrote {tmp}/model.nir"),
    (["plot", "{run}"], "wrote {run}/"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("args", "stdout"), SUCCESSES, ids=lambda c: " ".join(c) if isinstance(c, list) else "")
def test_success_exits_0_with_a_clean_stderr(finished_run: Path, tmp_path: Path, args: list[str], stdout: str) -> None:
    if args[0] == "export":
        pytest.importorskip("nir")
    paths = {"run": finished_run, "tmp": tmp_path}
    result = snnlab([a.format(**paths) for a in args], tmp_path)
    assert result.returncode == 0, result.stderr
    assert stdout.format(**paths) in result.stdout
    assert_clean(result.stderr)


@pytest.mark.slow
def test_user_errors_exit_2_with_one_message(finished_run: Path, tmp_path: Path) -> None:
    cases = [(["eval", "/nonexistent"], "error: /nonexistent: no such folder")]
    if not torch.cuda.is_available():
        cases.append((["eval", str(finished_run), "--accelerator", "gpu"], "error: --accelerator=gpu: this machine"))
    for args, message in cases:
        result = snnlab(args, tmp_path)
        assert result.returncode == 2, result.stderr
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and errors[0].startswith(message), result.stderr
        assert "Traceback" not in result.stderr and not result.stdout


def test_progress_null_hides_the_progress_bar(tmp_path: Path) -> None:
    """Without a progress callback Lightning would add its default bar; ``callbacks.progress=null`` means none."""
    fast = [o for o in FAST if "enable_progress_bar" not in o]
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[*fast, *TINY_CNN, f"paths.output_dir={tmp_path}"])
    assert cfg.callbacks.progress is None
    assert prepare(cfg).trainer.progress_bar_callback is None

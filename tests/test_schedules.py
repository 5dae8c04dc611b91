"""``scheduler=warmup_cosine`` runs timm's cosine schedule as timm's train.py does: the rates of every epoch equal
timm's own ``CosineLRScheduler`` stepped in a plain loop (per epoch or per update, with warm-up, warm-up prefix and
cooldown), the run trains the cooldown too, a resumed run continues the same curve, and ``snnlab inspect`` shows it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import torch
from hydra import compose, initialize_config_dir
from timm.scheduler import CosineLRScheduler
from training_helpers import compose_run

from snnlab.conf import CONFIG_DIR
from snnlab.training import run_training
from snnlab.training.tools.inspection import inspect_network, lr_schedule

LR = 0.01  # optim.lr of every case
SETTINGS = {  # name: (trainer.max_epochs, warmup_epochs, warmup_lr, min_lr, cooldown_epochs, warmup_prefix)
    "cosine only": (6, 0, 0.0, 0.0, 0, False),
    "warmup": (8, 3, 1e-4, 1e-4, 0, False),
    "warmup prefix": (6, 2, 1e-5, 1e-4, 0, True),
    "cooldown": (6, 1, 1e-5, 2e-4, 3, False),
    "all": (7, 2, 1e-3, 5e-4, 2, True),
}


def timm_loop(settings: tuple, per_step: bool, updates: int = 1) -> list[list[float]]:
    """The rate before each update of each epoch, from timm's ``CosineLRScheduler`` stepped as timm's train.py
    steps it (``step(epoch + 1)`` after an epoch, or ``step_update(num_updates)`` after each update); the epochs
    are timm's total (cycle length + cooldown)."""
    epochs, warmup, warmup_lr, min_lr, cooldown, prefix = settings
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=LR)
    n = updates if per_step else 1  # timm counts per-update schedules in updates
    scheduler = CosineLRScheduler(
        optimizer,
        t_initial=epochs * n,
        lr_min=min_lr,
        warmup_t=warmup * n,
        warmup_lr_init=warmup_lr,
        warmup_prefix=prefix,
        t_in_epochs=not per_step,
    )
    total = scheduler.get_cycle_length() // n + cooldown
    rates, num_updates = [], 0
    for epoch in range(total):
        rates.append([])
        for _ in range(updates):
            rates[-1].append(optimizer.param_groups[0]["lr"])
            num_updates += 1
            scheduler.step_update(num_updates)
        scheduler.step(epoch + 1)
    return rates


def overrides(settings: tuple, per_step: bool) -> list[str]:
    epochs, warmup, warmup_lr, min_lr, cooldown, prefix = settings
    return [
        "scheduler=warmup_cosine",
        f"optim.lr={LR}",
        f"trainer.max_epochs={epochs}",
        f"scheduler.warmup_epochs={warmup}",
        f"scheduler.warmup_lr={warmup_lr}",
        f"scheduler.min_lr={min_lr}",
        f"scheduler.cooldown_epochs={cooldown}",
        f"scheduler.warmup_prefix={str(prefix).lower()}",
        f"scheduler.per_step={str(per_step).lower()}",
    ]


@pytest.mark.parametrize("per_step", [False, True], ids=["per epoch", "per step"])
@pytest.mark.parametrize("name", SETTINGS)
def test_epoch_rates_equal_timms_loop(name: str, per_step: bool) -> None:
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=overrides(SETTINGS[name], per_step))
    got = lr_schedule(cfg, torch.nn.Linear(2, 2))
    expected = [epoch[0] for epoch in timm_loop(SETTINGS[name], per_step, updates=5)]
    assert got["total_epochs"] == len(expected)
    assert got["lr_schedule"] == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_inspect_json_shows_the_schedule(capsys: pytest.CaptureFixture[str]) -> None:
    info = inspect_network([*overrides(SETTINGS["all"], False), "model=mlp", "--json"], CONFIG_DIR)
    assert info["total_epochs"] == 7 + 2 + 2  # epochs + warm-up prefix + cooldown
    assert info["lr_schedule"] == pytest.approx([e[0] for e in timm_loop(SETTINGS["all"], False)])
    assert '"lr_schedule": [' in capsys.readouterr().out
    plain = inspect_network(["model=mlp", "scheduler=none", "trainer.max_epochs=3"], CONFIG_DIR)
    assert plain["total_epochs"] == 3 and plain["lr_schedule"] == [0.003] * 3  # optim=adam's rate


# ---------------------------------------------------------------- whole runs

TINY = ["data=mnist5k", "model=mlp", "model.hidden=[32]", "+trainer.limit_train_batches=3"]
TINY += ["+trainer.limit_val_batches=1", "+trainer.limit_test_batches=1"]
CURVE = (3, 1, 1e-3, 1e-4, 1, False)  # 3 epochs with 1 of warm-up, then 1 of cooldown: 4 epochs


def epoch_lr(run_dir: Path) -> list[float]:
    """The ``lr`` column of ``csv/metrics.csv``: the mean rate of each epoch's updates."""
    return pd.read_csv(run_dir / "csv/metrics.csv").dropna(subset=["lr"]).sort_values("epoch")["lr"].tolist()


def last_lr(run_dir: Path) -> float:
    """The rate in ``last.ckpt``'s optimizer (what the next epoch would start with)."""
    checkpoint = torch.load(run_dir / "checkpoints/last.ckpt", weights_only=True)
    return checkpoint["optimizer_states"][0]["param_groups"][0]["lr"]


@pytest.mark.slow
@pytest.mark.parametrize("per_step", [False, True], ids=["per epoch", "per step"])
def test_run_follows_timm_and_a_resumed_run_the_same_curve(tmp_path: Path, per_step: bool) -> None:
    run = [*TINY, *overrides(CURVE, per_step)]
    run_training(compose_run(tmp_path / "whole", run))
    expected = [sum(epoch) / len(epoch) for epoch in timm_loop(CURVE, per_step, updates=3)]
    assert len(expected) == 4 and epoch_lr(tmp_path / "whole") == pytest.approx(expected, rel=1e-5)

    run_training(compose_run(tmp_path / "first", [*run, "+trainer.max_steps=6"]))  # stops after 2 of the 4 epochs
    assert len(epoch_lr(tmp_path / "first")) == 2
    resumed = tmp_path / "resumed"
    run_training(compose_run(resumed, [*run, f"ckpt_path={tmp_path / 'first/checkpoints/last.ckpt'}"]))
    assert json.loads((resumed / "summary.json").read_text())["resumed_at_epoch"] == 2
    assert epoch_lr(resumed) == pytest.approx(epoch_lr(tmp_path / "whole"), rel=1e-6)
    assert last_lr(resumed) == pytest.approx(last_lr(tmp_path / "whole"), rel=1e-9)


@pytest.mark.slow
def test_ottt_steps_a_per_update_schedule_per_batch(tmp_path: Path) -> None:
    run = ["experiment=ottt_mnist5k", *TINY, "model.hidden=[16]", *overrides(CURVE, per_step=True)]
    run_training(compose_run(tmp_path, run))
    expected = [sum(epoch) / len(epoch) for epoch in timm_loop(CURVE, True, updates=3)]
    assert epoch_lr(tmp_path) == pytest.approx(expected, rel=1e-5)
    assert math.isclose(last_lr(tmp_path), CURVE[3], rel_tol=1e-9)  # the cooldown holds min_lr


@pytest.mark.slow
def test_resume_with_a_new_schedule_and_optimizer_follows_them_from_the_resumed_epoch(tmp_path: Path) -> None:
    run_training(compose_run(tmp_path / "first", [*TINY, "trainer.max_epochs=2"]))  # adam, torch's cosine
    new = (3, 1, 1e-3, 2e-4, 1, False)
    changed = [*overrides(new, per_step=False), "optim=adamw_timm", f"optim.lr={LR}"]  # its groups differ: fresh state
    run_training(
        compose_run(tmp_path / "resumed", [*TINY, *changed, f"ckpt_path={tmp_path / 'first/checkpoints/last.ckpt'}"])
    )
    expected = [epoch[0] for epoch in timm_loop(new, per_step=False)]
    assert epoch_lr(tmp_path / "resumed")[2:] == pytest.approx(expected[2:], rel=1e-6)  # epochs 2 and 3 (cooldown)

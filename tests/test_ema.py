"""Model EMA (``ema`` config group): the average timm's ModelEmaV3 keeps, worked by hand; validation and test with
the EMA or the trained weights; the average in checkpoints and across a resume; whole runs with ``ema.decay``."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from lightning import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from training_helpers import compose_run

from snnlab.training.callbacks.ema import CHECKPOINT_KEY, ModelEMA
from snnlab.training.run.evaluation import evaluate
from snnlab.training.run.lifecycle import run_training

WEIGHTS = [1.0, 3.0, -2.0, 5.0]
"""The weight after each optimizer step of the hand-worked examples."""


def ema_after_steps(weights: list[float], **ema: Any) -> list[float]:
    """The EMA of a one-weight network after each optimizer step that sets its weight to ``weights[i]``."""
    holder = nn.Module()
    holder.net = nn.Linear(1, 1, bias=False)
    callback = ModelEMA(**ema)
    optimizer = torch.optim.SGD(holder.net.parameters(), lr=1.0)
    callback.on_fit_start(SimpleNamespace(optimizers=[optimizer]), holder)  # type: ignore[arg-type]
    averages = []
    for w in weights:
        weight = holder.net.weight
        weight.grad = weight.detach() - w  # one SGD step with lr 1 lands on w
        optimizer.step()
        averages.append(callback.ema.module.weight.item())
    return averages


@pytest.mark.parametrize(
    ("ema", "expected"),
    [
        # timm's first update copies the weights; then e = d e + (1 - d) w with d = decay
        ({"decay": 0.5}, [1.0, 0.5 * 1 + 0.5 * 3, 0.5 * 2 + 0.5 * -2, 0.5 * 0 + 0.5 * 5]),
        # warm-up at update t = step - 1: d = min(decay, 1 - (1 + t / gamma) ** -power)
        # gamma 1, power 2: d = 3/4, 8/9, 15/16
        (
            {"decay": 0.99, "warmup": True, "warmup_gamma": 1.0, "warmup_power": 2.0},
            [1.0, 3 / 4 * 1 + 1 / 4 * 3, 8 / 9 * 1.5 + 1 / 9 * -2, 15 / 16 * 10 / 9 + 1 / 16 * 5],
        ),
        # gamma 0.5, power 1: d = 2/3, 4/5, 6/7
        (
            {"decay": 0.99, "warmup": True, "warmup_gamma": 0.5, "warmup_power": 1.0},
            [1.0, 2 / 3 * 1 + 1 / 3 * 3, 4 / 5 * 5 / 3 + 1 / 5 * -2, 6 / 7 * 14 / 15 + 1 / 7 * 5],
        ),
        # the decay caps the warm-up ramp: gamma 1, power 1 gives 1/2, then min(0.6, 2/3) = 0.6 and min(0.6, 3/4)
        (
            {"decay": 0.6, "warmup": True, "warmup_gamma": 1.0, "warmup_power": 1.0},
            [1.0, 0.5 * 1 + 0.5 * 3, 0.6 * 2 + 0.4 * -2, 0.6 * 0.4 + 0.4 * 5],
        ),
    ],
    ids=["no warmup", "warmup gamma 1 power 2", "warmup gamma 0.5 power 1", "decay caps the warmup"],
)
def test_the_average_is_the_formula_worked_by_hand(ema: dict[str, Any], expected: list[float]) -> None:
    assert ema_after_steps(WEIGHTS, **ema) == pytest.approx(expected, rel=1e-6)


class Probe(LightningModule):
    """A linear ``net`` trained by SGD on a fixed regression; records the weights validation and test batches see."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Linear(2, 1)
        self.seen: dict[str, list[dict[str, torch.Tensor]]] = {"val": [], "test": []}

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return ((self.net(x) - y) ** 2).mean()

    def _record(self, stage: str) -> None:
        self.seen[stage].append(clone(self.net.state_dict()))

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._record("val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._record("test")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def loader() -> DataLoader:
    x = torch.linspace(-1, 1, 24).reshape(12, 2)
    return DataLoader(TensorDataset(x, x @ torch.tensor([[2.0], [-1.0]]) + 0.5), batch_size=4)


def trainer(callbacks: list[Any], epochs: int) -> Trainer:
    """A CPU trainer without logs that writes checkpoints only where ``callbacks`` has a ModelCheckpoint."""
    return Trainer(
        max_epochs=epochs,
        callbacks=callbacks,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=any(isinstance(c, ModelCheckpoint) for c in callbacks),
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=1,
    )


def clone(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in state.items()}


def equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("evaluate_with_ema", [True, False])
def test_validation_and_test_use_the_ema_weights_when_asked(evaluate_with_ema: bool) -> None:
    probe, callback = Probe(), ModelEMA(decay=0.5, evaluate=evaluate_with_ema)
    trainer([callback], epochs=1).fit(probe, loader(), loader())
    trained, average = clone(probe.net.state_dict()), clone(callback.ema.module.state_dict())
    assert callback.updates == 3 and not equal(trained, average)
    trainer([callback], epochs=1).test(probe, loader())
    expected = average if evaluate_with_ema else trained
    assert equal(probe.seen["val"][0], expected) and equal(probe.seen["test"][0], expected)
    assert equal(probe.net.state_dict(), trained)  # training weights are back after evaluation


def test_checkpoints_restore_the_average_and_a_resumed_run_continues_it(tmp_path: Path) -> None:
    straight = ModelEMA(decay=0.7)
    trainer([straight], epochs=2).fit(Probe(), loader(), loader())

    first, probe = ModelEMA(decay=0.7), Probe()
    checkpoint = ModelCheckpoint(dirpath=tmp_path, filename="last")
    trainer([first, checkpoint], epochs=1).fit(probe, loader(), loader())
    saved = torch.load(tmp_path / "last.ckpt", weights_only=True)
    assert saved[CHECKPOINT_KEY]["updates"] == 3
    assert equal(saved[CHECKPOINT_KEY]["state_dict"], first.ema.module.state_dict())
    assert equal({k.removeprefix("net."): v for k, v in saved["state_dict"].items()}, probe.net.state_dict())

    restored = ModelEMA(decay=0.7)
    trainer([restored], epochs=1).validate(Probe(), loader(), ckpt_path=tmp_path / "last.ckpt")
    assert restored.updates == 3 and equal(restored.ema.module.state_dict(), first.ema.module.state_dict())

    resumed = ModelEMA(decay=0.7)
    trainer([resumed], epochs=2).fit(Probe(), loader(), loader(), ckpt_path=tmp_path / "last.ckpt")
    assert resumed.updates == straight.updates == 6
    assert equal(resumed.ema.module.state_dict(), straight.ema.module.state_dict())


OTTT_O = ["learning=ottt", "learning.online_update=true", "neuron=ottt_lif", "norm=none", "model.channels=[4]"]


@pytest.mark.slow
@pytest.mark.parametrize("learning", [[], OTTT_O], ids=["bptt", "ottt online"])
def test_a_run_with_ema_trains_and_eval_tests_its_weights(tmp_path: Path, learning: list[str]) -> None:
    run = ["ema.decay=0.99", "trainer.max_epochs=2", "+trainer.limit_train_batches=3", "+trainer.limit_val_batches=2"]
    run_training(compose_run(tmp_path, [*run, *learning]))  # the whole test set, as `snnlab eval` tests
    summary = json.loads((tmp_path / "summary.json").read_text())
    last = torch.load(tmp_path / "checkpoints/last.ckpt", weights_only=True)
    assert summary["status"] == "finished" and summary["test_acc"] is not None
    assert last[CHECKPOINT_KEY]["updates"] == last["global_step"] == (12 if learning else 6)  # OTTT_O: T=2 per batch
    metrics = evaluate(tmp_path, "best", accelerator="cpu")
    assert metrics["weights"] == "ema" and metrics["test/loss"] == pytest.approx(summary["test_loss"], rel=1e-6)


@pytest.mark.parametrize(("steps", "warmup", "warns"), [(57, False, True), (2000, False, False), (57, True, False)])
def test_an_average_that_cannot_catch_up_is_reported(
    caplog: pytest.LogCaptureFixture, steps: int, warmup: bool, warns: bool
) -> None:
    """0.99 ** 56 = 57 % of the initial weights left after 57 steps: evaluating with them tests a half-trained net."""
    callback = ModelEMA(decay=0.99, warmup=warmup)
    callback.on_train_start(SimpleNamespace(estimated_stepping_batches=steps), None)  # type: ignore[arg-type]
    assert ("57% of the initial ones" in caplog.text) is warns and ("ema.warmup=true" in caplog.text) is warns

"""Neurons from other libraries (SpikingJelly's) or a user's own class: built from their config node alone, then
configured by :func:`snnlab.functional.configure`, reset between batches by :func:`snnlab.functional.reset_net`."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from torch import nn
from training_helpers import compose_run

from snnlab import layers
from snnlab.functional import configure, reset_net
from snnlab.neurons import LIF
from snnlab.training.run.lifecycle import execute, prepare


class ForeignLIF(nn.Module):
    """A user's LIF neuron: a ``step_mode`` attribute and its own ``reset()``, no ``backend``."""

    def __init__(self, tau: float = 2.0, v_threshold: float = 1.0) -> None:
        super().__init__()
        self.tau, self.v_threshold, self.step_mode = tau, v_threshold, "s"
        self.v: torch.Tensor | float = 0.0

    def reset(self) -> None:
        self.v = 0.0

    def step(self, x: torch.Tensor) -> torch.Tensor:
        h = self.v + (x - self.v) / self.tau
        spike = (h >= self.v_threshold).to(x)
        self.v = h * (1 - spike)
        return spike

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.step(x_t) for x_t in x]) if self.step_mode == "m" else self.step(x)


DROPPED = ("decay_input", "v_reset", "surrogate", "detach_reset")
"""The keys of ``neuron=lif`` that :class:`ForeignLIF` does not take."""


class Counter(nn.Module):
    """Stateful, but neither ``step_mode`` nor ``backend``."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def reset(self) -> None:
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return x


def test_configure_sets_what_foreign_modules_have_and_notes_the_rest() -> None:
    net = nn.Sequential(layers.Linear(3, 4), ForeignLIF(), LIF(), Counter(), nn.Sequential(Counter()))
    notes = configure(net, "m", "torch")
    assert net[0].step_mode == net[1].step_mode == net[2].step_mode == "m" and net[2].backend == "torch"
    assert notes == [
        "step_mode='m' not applied to Counter (layers 3, 4.0): it has no step_mode attribute",
        "backend='torch' not applied to ForeignLIF (layers 1): it has no backend attribute",
        "backend='torch' not applied to Counter (layers 3, 4.0): it has no backend attribute",
    ]
    assert configure(nn.Sequential(layers.Linear(3, 4), LIF()), "s", "auto") == []  # snnlab's own: nothing to note
    net(torch.rand(2, 5, 3))
    assert isinstance(net[1].v, torch.Tensor) and net[3].calls == 1
    reset_net(net)
    assert net[1].v == 0.0 and net[3].calls == net[4][0].calls == 0 and net[2].v == 0.0


class OldSJNode(Counter):
    """Like SpikingJelly's 0.0.0.0.14 neurons: a ``backend`` among its ``supported_backends``."""

    supported_backends = ("torch", "cupy")

    def __init__(self) -> None:
        super().__init__()
        self.backend = "torch"


def test_a_foreign_backend_is_set_only_where_the_neuron_takes_it() -> None:
    net = nn.Sequential(OldSJNode(), OldSJNode())
    assert configure(net, "s", "auto") == [
        "step_mode='s' not applied to OldSJNode (layers 0, 1): it has no step_mode attribute",
        "backend='auto' not applied to OldSJNode (layers 0, 1): it takes torch, cupy",
    ]
    configure(net, "s", "cupy")
    assert net[0].backend == net[1].backend == "cupy"


@pytest.mark.parametrize(
    ("step_mode", "backend", "message"),
    [
        ("x", "auto", r"^step_mode='x': must be 'm' \(whole \[T, B, \.\.\.\] sequences\) or 's' \(step by step\)$"),
        ("m", "nope", r"backend.'nope'.*valid: auto, cpu, cupy, torch"),
    ],
)
def test_configure_checks_its_values(step_mode: str, backend: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        configure(nn.Sequential(LIF()), step_mode, backend)


def fresh_state_at_every_call(net: nn.Module, cls: type) -> list[bool]:
    """Hooks every ``cls`` module of ``net``: whether its membrane was at rest (``v == 0.0``) at each call."""
    fresh: list[bool] = []
    for m in net.modules():
        if isinstance(m, cls):
            m.register_forward_pre_hook(lambda m, args: fresh.append(isinstance(m.v, float) and m.v == 0.0))
    return fresh


def train_with(tmp_path: Path, neuron: list[str], cls: type, caplog: pytest.LogCaptureFixture) -> list[str]:
    """One fast_dev_run of two batches per stage with ``neuron``; asserts the neurons start every batch at rest and
    returns the warnings the run logged."""
    with caplog.at_level(logging.WARNING, logger="snnlab"):
        # (no batch-norm recalibration: it would add forward passes of its own to the six counted below)
        run = prepare(compose_run(tmp_path, [*neuron, "+trainer.fast_dev_run=2", "callbacks.bn_recalibration=null"]))
    neurons = [m for m in run.module.net.modules() if isinstance(m, cls)]
    assert neurons and all(m.step_mode == "m" for m in neurons)
    fresh = fresh_state_at_every_call(run.module.net, cls)
    execute(run)
    assert len(fresh) == 6 * len(neurons) and all(fresh)  # train, val and test: two batches each
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_spikingjelly_neuron_trains_and_is_reset_between_batches(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sj = pytest.importorskip("spikingjelly.activation_based.neuron", reason="needs the test-sj extra (spikingjelly)")
    neuron = ["neuron._target_=spikingjelly.activation_based.neuron.LIFNode", "~neuron.surrogate"]
    warnings = train_with(tmp_path, neuron, sj.LIFNode, caplog)
    assert warnings == ["backend='auto' not applied to LIFNode (layers 0.2, 2.2, 7): it has no backend attribute"]


def test_users_own_neuron_trains_and_is_reset_between_batches(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    neuron = [f"neuron._target_={__name__}.ForeignLIF", *(f"~neuron.{k}" for k in DROPPED)]
    warnings = train_with(tmp_path, neuron, ForeignLIF, caplog)
    assert warnings == ["backend='auto' not applied to ForeignLIF (layers 0.2, 2.2, 7): it has no backend attribute"]

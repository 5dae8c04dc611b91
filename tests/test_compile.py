"""``torch.compile`` of snnlab networks: the fused neurons are custom operators that Dynamo does not trace into,
so a compiled network (one graph, no breaks) gives the spikes and gradients of the eager one; so does one on the
``torch`` backend, whose formulas Dynamo traces (with graph breaks)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
from torch import nn
from training_helpers import compose_run

from snnlab import layers
from snnlab.functional import reset_net
from snnlab.neurons import LIF, PLIF, AdaptiveLIF
from snnlab.training.run.lifecycle import run_training

BACKENDS = ("cpu", "torch")


def _net(neuron: type[nn.Module], backend: str) -> nn.Sequential:
    torch.manual_seed(0)
    kw = {"step_mode": "m", "backend": backend}
    net = nn.Sequential(
        layers.Conv2d(1, 4, 3, padding=1, step_mode="m"),
        layers.BatchNorm2d(4, step_mode="m"),
        neuron(**kw),
        layers.Flatten(step_mode="m"),
        layers.Linear(4 * 6 * 6, 8, step_mode="m"),
        PLIF(**kw),
    )
    net[4].weight.data *= 8  # the output layer fires too
    return net


def _step(net: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Spikes of one batch and the gradients of every parameter (the state reset first, as in training)."""
    net.zero_grad()
    reset_net(net)
    out = net(x)
    (out * torch.linspace(-1, 1, out.shape[-1])).sum().backward()
    return out.detach(), {n: p.grad.clone() for n, p in net.named_parameters()}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("neuron", [LIF, AdaptiveLIF])
def test_compiled_network_matches_eager(neuron: type[nn.Module], backend: str) -> None:
    eager = _net(neuron, backend)
    compiled = copy.deepcopy(eager)
    compiled.compile(fullgraph=backend != "torch")  # fused: one graph; torch: graph breaks in the formulas
    x = torch.rand(4, 3, 1, 6, 6) * 3
    for batch in (x, x.flip(0)):  # the second batch reuses the graph: states were reset, not carried
        s_eager, g_eager = _step(eager, batch)
        s_compiled, g_compiled = _step(compiled, batch)
        assert s_eager.sum() > 0 and torch.equal(s_compiled, s_eager)
        for name, g in g_eager.items():
            torch.testing.assert_close(g_compiled[name], g, rtol=1e-5, atol=1e-5, msg=name)


def test_compiled_neuron_keeps_its_state_between_calls() -> None:
    neuron = LIF(step_mode="m")
    compiled = torch.compile(LIF(step_mode="m"), fullgraph=True)
    x = torch.rand(4, 2, 16) * 2
    for _ in range(2):  # the second call starts from the first call's last membrane potential
        assert torch.equal(compiled(x), neuron(x))
    assert torch.equal(compiled._orig_mod.v, neuron.v)


@pytest.mark.slow
def test_training_with_compile_trains_the_default_model(tmp_path: Path) -> None:
    run_training(compose_run(tmp_path, ["compile=true", "trainer.max_epochs=3", "+trainer.limit_train_batches=30"]))
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["test_acc"] > 0.3  # chance: 0.1

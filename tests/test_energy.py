"""EnergyMeter: synaptic operations, activation sparsity and footprint, by hand and against NeuroBench."""

from __future__ import annotations

from pathlib import Path

import lightning
import pandas as pd
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from training_helpers import compose_run

from snnlab import layers
from snnlab.functional import reset_net
from snnlab.metrics import EnergyMeter
from snnlab.neurons import IF, LIF, BaseNode
from snnlab.training.callbacks.energy import EnergyCallback
from snnlab.training.run.build import build


def _hand_net() -> nn.Sequential:
    net = nn.Sequential(
        layers.Conv1d(1, 2, 3, padding=1, bias=False, step_mode="m"),
        IF(step_mode="m"),
        layers.Flatten(step_mode="m"),
        layers.Linear(8, 1, bias=False, step_mode="m"),
    )
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[[1.0, 1.0, 1.0]], [[0.0, 2.0, 0.0]]]))
        net[3].weight.copy_(torch.tensor([[1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0]]))
    return net


def test_counts_match_a_hand_computed_network() -> None:
    """Two copies of one sample, T = 1, input ``[0.5, 0, 0.7, 0.2]`` (analog: MACs).

    Conv1d (kernel 3, zero padding 1), channel 0 weights ``[1, 1, 1]``: windows hold 1, 2, 2, 2 non-zero
    inputs = 7 MACs; channel 1 ``[0, 2, 0]`` meets the 3 non-zero inputs = 3 MACs; dense 2 × (2+3+3+2) = 20.
    Outputs ``[0.5, 1.2, 0.9, 0.9]`` and ``[1.0, 0, 1.4, 0.4]`` make the IF (V_th = 1) spike at 3 of 8
    neurons (sparsity 5/8).  The linear layer sees spikes at 1, 4, 6, where weight 4 is zero: 2 ACs, dense 8.
    Footprint: 6 + 8 fp32 weights = 56 bytes.
    """
    net = _hand_net()
    x = torch.tensor([0.5, 0.0, 0.7, 0.2]).expand(1, 2, 1, 4)
    with EnergyMeter(net) as meter:
        reset_net(net)
        net(x)
        meter.add_samples(2)
    report = meter.report()
    assert report["synops"] == {"effective_acs": 2.0, "effective_macs": 10.0, "dense": 28.0, "effective": 12.0}
    assert report["synops_by_layer"]["0"] == {"effective_acs": 0.0, "effective_macs": 10.0, "dense": 20.0}
    assert report["activation_sparsity"] == report["activation_sparsity_by_layer"]["1"] == 5 / 8
    assert report["footprint_bytes"] == 56
    net(x)  # hooks are gone after the context
    assert meter.report()["synops"]["effective_macs"] == 10.0


def test_report_without_samples_raises() -> None:
    with pytest.raises(RuntimeError, match="add_samples"):
        EnergyMeter(_hand_net()).report()


class _BatchFirst(nn.Module):
    """What NeuroBench runs: reset, ``[B, T, ...]`` → snnlab's ``[T, B, ...]``, rate readout."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        reset_net(self.net)
        return self.net(x.transpose(0, 1)).mean(0)


def _convnet() -> nn.Sequential:
    """Analog input (MACs), a conv on spikes (ACs), a linear layer after average pooling (MACs), zero weights."""
    net = nn.Sequential(
        layers.Conv2d(1, 4, 3, padding=1, step_mode="m"),
        layers.BatchNorm2d(4, step_mode="m"),
        LIF(step_mode="m"),
        layers.Conv2d(4, 4, 3, padding=1, bias=False, step_mode="m"),
        IF(step_mode="m"),
        layers.AvgPool2d(2, step_mode="m"),
        layers.Flatten(step_mode="m"),
        layers.Linear(64, 8, step_mode="m"),
        LIF(step_mode="m"),
        layers.Linear(8, 3, step_mode="m"),
    )
    with torch.no_grad():
        net[1].weight.fill_(2.0)
        net[1].bias.fill_(0.5)
        net[3].weight.mul_(6)
        net[3].weight[:, :, 0, :] = 0  # zero weights must not count as effective operations
        net[7].weight.mul_(20)
        net[7].weight[::2] = 0
    return net.eval()


def test_matches_neurobench() -> None:
    """The same network and data through ``neurobench.Benchmark`` (2.3.0) with snnlab's neurons registered
    as its activation modules: every synaptic-operation count, both sparsities and the footprint agree."""
    pytest.importorskip("neurobench", reason="needs the test-energy extra (neurobench)")
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.static import Footprint
    from neurobench.metrics.workload import ActivationSparsity, ActivationSparsityByLayer, SynapticOperations
    from neurobench.models import TorchModel

    torch.manual_seed(0)
    net = _convnet()
    data = TensorDataset(torch.rand(12, 4, 1, 8, 8) * 2, torch.zeros(12, dtype=torch.long))  # [N, T, C, H, W]
    model = TorchModel(_BatchFirst(net))
    model.add_activation_module(BaseNode)
    metrics = [[Footprint], [SynapticOperations, ActivationSparsity, ActivationSparsityByLayer]]
    expected = Benchmark(model, DataLoader(data, batch_size=4), [], [], metrics).run(quiet=True)

    with EnergyMeter(net) as meter, torch.no_grad():
        for x, _ in DataLoader(data, batch_size=4):
            _BatchFirst(net)(x)
            meter.add_samples(len(x))
    report = meter.report()
    synops = expected["SynapticOperations"]
    assert synops["Effective_ACs"] > 0 and synops["Effective_MACs"] > 0
    assert max(expected["ActivationSparsityByLayer"].values()) < 0.95, "every layer must spike"
    assert report["synops"]["effective_acs"] == pytest.approx(synops["Effective_ACs"])
    assert report["synops"]["effective_macs"] == pytest.approx(synops["Effective_MACs"])
    assert report["synops"]["dense"] == pytest.approx(synops["Dense"])
    assert report["activation_sparsity"] == pytest.approx(expected["ActivationSparsity"])
    assert report["activation_sparsity_by_layer"] == pytest.approx(expected["ActivationSparsityByLayer"])
    assert report["footprint_bytes"] == expected["Footprint"]


def test_callback_logs_per_sample_numbers_of_the_test_set(tmp_path: Path) -> None:
    """``trainer.test`` on the digits run (360 test samples): the callback counts every sample once and logs
    its report's totals to the callback metrics and the CSV file."""
    datamodule, module = build(compose_run(tmp_path))
    callback = EnergyCallback()
    trainer = lightning.Trainer(
        accelerator="cpu",
        logger=CSVLogger(tmp_path),
        callbacks=[callback],
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.test(module, datamodule=datamodule, verbose=False)
    report, logged = callback.report, trainer.callback_metrics
    assert report["samples"] == 360
    assert float(logged["test/synops"]) == pytest.approx(report["synops"]["effective"])
    assert float(logged["test/synops_dense"]) > float(logged["test/synops"]) > 0
    assert float(logged["test/sparsity"]) == pytest.approx(report["activation_sparsity"])  # untrained: ~1
    assert float(logged["test/footprint_bytes"]) == report["footprint_bytes"] > 0
    csv = pd.read_csv(next(tmp_path.rglob("metrics.csv")))
    assert csv["test/synops"].iloc[-1] == pytest.approx(report["synops"]["effective"])

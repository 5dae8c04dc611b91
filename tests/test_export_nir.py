"""NIR export: parameter mapping, errors, file round trip, and spikes of the graph run by snnTorch and Norse."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from torch import nn
from training_helpers import compose_run

from snnlab import layers
from snnlab.export.nir import NIRExportError, to_nir
from snnlab.functional import reset_net
from snnlab.models import TdBN, create_model
from snnlab.neurons import CUBALIF, IF, LIF, PLIF, RIF, AdaptiveLIF
from snnlab.training.run.build import build
from snnlab.training.tools.export import export_run

nir = pytest.importorskip("nir", reason="NIR export needs the export extra: pip install -e '.[export]'")

T = 8


def _randomise_norms(net: nn.Module) -> None:
    """Running statistics and affine parameters away from their initial values, so folding is exercised."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.3, 1.0)
                m.weight.uniform_(0.8, 1.5)
                m.bias.uniform_(0.0, 0.3)


def _run(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    reset_net(net)
    with torch.no_grad():
        return net(x)


def _small_convnet(norm: str) -> nn.Sequential:
    bn = layers.BatchNorm2d(4, step_mode="m") if norm == "bn" else layers.ThresholdDependentBatchNorm2d(0.5, 1.5, 4)
    net = nn.Sequential(
        layers.Conv2d(1, 4, 3, padding=1, bias=False, step_mode="m"),
        bn,
        LIF(tau=2.0, step_mode="m"),
        layers.AvgPool2d(2, step_mode="m"),
        layers.Flatten(step_mode="m"),
        layers.Linear(64, 5, step_mode="m"),
        LIF(tau=2.0, step_mode="m"),
    )
    _randomise_norms(net)
    with torch.no_grad():
        net[5].weight.normal_(0.4, 1.0)
    return net.eval()


def _snntorch_run(graph: object, x: torch.Tensor) -> torch.Tensor:
    """Output of snnTorch's import of ``graph`` for ``x`` ``[T, B, ...]``, one sample at a time.

    snnTorch 1.0 builds ``torch.nn.Flatten(start_dim, end_dim)`` from NIR's batch-free dimensions, which is
    right only for an unbatched input, so every sample runs alone (as a batch of one) from a zero state.
    """
    import_nir = pytest.importorskip("snntorch.import_nir", reason="needs the test-export extra (snntorch)")
    snn = pytest.importorskip("snntorch")
    with contextlib.redirect_stdout(io.StringIO()):  # it prints a warning per LIF layer
        net = import_nir.import_from_nir(graph)
    samples = []
    with torch.no_grad():
        for b in range(x.shape[1]):
            for m in net.modules():
                if isinstance(m, snn.SpikingNeuron):
                    m.reset_mem()
            samples.append(torch.stack([net(x[t, b : b + 1])[0] for t in range(x.shape[0])]))
    return torch.stack(samples, 1).reshape(x.shape[0], x.shape[1], -1)


@pytest.mark.parametrize("norm", ["bn", "tdbn"])
def test_convnet_spikes_match_snntorch(norm: str) -> None:
    """conv → BN/tdBN → LIF → avgpool → flatten → linear → LIF: snnTorch's spikes equal snnlab's exactly.

    snnTorch's importer hard-codes its own step ``dt = 1e-4`` (``beta = 1 - dt/τ_nir``, input scaled by
    ``r·dt/τ_nir`` folded into the threshold), so the graph is exported with ``dt=1e-4``: then its
    ``Leaky`` runs ``u ← (1 - 1/τ)·u + x`` with threshold ``τ·V_th``, which is snnlab's LIF scaled by ``τ``
    (``u = τ·v``).  Both fire on ``u > τ·V_th`` resp. ``v >= V_th`` and round differently (one vs two
    roundings per step), so a spike could differ where ``v`` is within an ulp of the threshold; with
    real-valued random inputs no such tie occurs and the test asks for equality.
    """
    torch.manual_seed(0)
    net = _small_convnet(norm)
    x = torch.rand(T, 6, 1, 8, 8) * 3
    expected = _run(net, x)
    assert 0.05 < expected.mean() < 0.95, "the output layer must spike for the comparison to mean something"
    out = _snntorch_run(to_nir(net, (1, 8, 8), dt=1e-4), x)
    torch.testing.assert_close(out, expected, rtol=0, atol=0)


def test_resnet19_residual_sums_match_snntorch() -> None:
    """ResNet-19 (tdBN, residual blocks, adaptive average pool, BN1d on the hidden FC) through snnTorch.

    A block's residual sum is two edges into its neuron (NIR sums a node's inputs); the non-spiking head's
    outputs equal snnlab's to float rounding.
    """
    torch.manual_seed(0)
    net = create_model(
        "resnet19", input_shape=(3, 8, 8), num_classes=4, width_mult=1 / 32, hidden=8, norm=TdBN()
    ).eval()
    _randomise_norms(net)
    x = torch.rand(4, 3, 3, 8, 8) * 2
    expected = _run(net, x)
    graph = to_nir(net, (3, 8, 8), dt=1e-4)
    assert {src for src, dst in graph.edges if dst == "1.neuron"} == {"1.conv2.0", "0.2"}  # identity shortcut
    assert {src for src, dst in graph.edges if dst == "4.neuron"} == {"4.conv2.0", "4.shortcut.0"}
    torch.testing.assert_close(_snntorch_run(graph, x), expected, rtol=1e-5, atol=1e-5)
    assert expected.abs().max() > 0.1


def test_if_and_lif_spikes_match_norse_at_dt_1() -> None:
    """linear → IF → linear → LIF exported with the default ``dt=1`` and run by Norse with ``dt=1``.

    Norse's ``LIFBoxCell`` steps ``v + dt/τ_nir·(v_leak - v + I)`` (it ignores ``r``, which is 1 here) and
    its ``IAFCell`` ``v + I``; both fire on ``v > V_th`` and reset to 0, so spikes equal snnlab's exactly
    (no threshold ties with random inputs).
    """
    norse = pytest.importorskip("norse.torch", reason="needs the test-export extra (norse)")
    torch.manual_seed(0)
    net = nn.Sequential(
        layers.Linear(10, 16, step_mode="m"),
        IF(step_mode="m"),
        layers.Linear(16, 4, step_mode="m"),
        LIF(tau=3.0, step_mode="m"),
    )
    with torch.no_grad():
        net[0].weight.normal_(0.2, 0.6)
        net[2].weight.normal_(0.2, 0.6)
    x = torch.rand(T, 32, 10)
    expected = _run(net, x)
    assert 0.05 < expected.mean() < 0.95
    imported = norse.from_nir(to_nir(net, (10,)), dt=1.0)
    state, out = None, []
    with torch.no_grad():
        for x_t in x:
            y, state = imported(x_t, state)
            out.append(y)
    torch.testing.assert_close(torch.stack(out), expected, rtol=0, atol=0)


def test_neuron_parameters_follow_the_euler_mapping() -> None:
    """τ_nir = dt/a, r = b/a, v_leak = v_reset (IF: r = 1/dt), for H = V + a(V_reset - V) + b·X; dt = 0.5."""
    net = nn.Sequential(
        LIF(tau=4.0, decay_input=True, v_threshold=2.0, v_reset=-0.5),  # a = b = 1/4
        LIF(tau=4.0, decay_input=False),  # a = 1/4, b = 1
        PLIF(init_tau=3.0),  # a = b = 1/3
        RIF(init_w=-0.25),  # a = 0.25, b = 1
        IF(),
    )
    graph = to_nir(net, (2,), dt=0.5)
    expected = {"0": (2.0, 1.0), "1": (2.0, 4.0), "2": (1.5, 1.0), "3": (2.0, 4.0)}
    for name, (tau, r) in expected.items():
        node = graph.nodes[name]
        assert type(node).__name__ == "LIF"
        np.testing.assert_allclose(node.tau, [tau, tau], rtol=1e-6)
        np.testing.assert_allclose(node.r, [r, r], rtol=1e-6)
    first = graph.nodes["0"]
    assert (first.v_threshold == 2.0).all() and (first.v_leak == -0.5).all() and (first.v_reset == -0.5).all()
    assert type(graph.nodes["4"]).__name__ == "IF" and (graph.nodes["4"].r == 2.0).all()


def test_per_channel_plif_exports_one_time_constant_per_channel() -> None:
    neuron = PLIF(channels=3)
    with torch.no_grad():
        neuron.w.copy_(-torch.log(torch.tensor([1.0, 2.0, 3.0])))  # τ = 2, 3, 4
    graph = to_nir(nn.Sequential(layers.Conv2d(1, 3, 3, padding=1), neuron), (1, 2, 2))
    tau = graph.nodes["1"].tau
    assert tau.shape == (3, 2, 2)
    np.testing.assert_allclose(tau[:, 0, 0], [2.0, 3.0, 4.0], rtol=1e-6)
    np.testing.assert_allclose(tau[:, 1, 1], [2.0, 3.0, 4.0], rtol=1e-6)
    np.testing.assert_allclose(graph.nodes["1"].r, np.ones((3, 2, 2)))


def test_folded_weights_and_file_round_trip(tmp_path: Path) -> None:
    """``nir.write`` then ``nir.read`` gives back the nodes, edges and the BN-folded conv weights."""
    torch.manual_seed(1)
    net = _small_convnet("tdbn")
    graph = to_nir(net, (1, 8, 8))
    fused = layers.fuse_conv_bn(net[0], net[1])
    np.testing.assert_allclose(graph.nodes["0"].weight, fused.weight.detach().numpy())
    path = tmp_path / "net.nir"
    nir.write(path, graph)
    loaded = nir.read(path)
    assert set(loaded.nodes) == {"input", "0", "2", "3", "4", "5", "6", "output"}
    assert sorted(loaded.edges) == sorted(graph.edges)
    assert [type(loaded.nodes[k]).__name__ for k in ("0", "2", "3", "4", "5")] == [
        "Conv2d",
        "LIF",
        "AvgPool2d",
        "Flatten",
        "Affine",
    ]
    np.testing.assert_allclose(loaded.nodes["0"].bias, fused.bias.detach().numpy())
    np.testing.assert_allclose(loaded.nodes["5"].weight, net[5].weight.detach().numpy())


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        (LIF(v_reset=None), r"layer 1 \(LIF\).*soft reset.*approximate=True \(`snnlab export --approximate`\)"),
        (layers.MaxPool2d(2), r"layer 1 \(MaxPool2d\).*max pooling; approximate=True \(`snnlab export --approx"),
        (layers.NeuNorm(2, 4, 4, step_mode="m"), r"layer 1 \(NeuNorm\)"),
        (layers.TemporalEffectiveBatchNorm2d(4, 2), r"layer 1 \(TemporalEffectiveBatchNorm2d\)"),
        (RIF(init_w=0.1), r"layer 1 \(RIF\).*w=0.1"),
        (AdaptiveLIF(), r"layer 1 \(AdaptiveLIF\).*NIR has no equivalent of the AdaptiveLIF neuron"),
        (CUBALIF(), r"layer 1 \(CUBALIF\).*NIR has no equivalent"),
    ],
)
def test_inexpressible_layers_raise_naming_path_and_class(layer: nn.Module, message: str) -> None:
    net = nn.Sequential(layers.Conv2d(1, 2, 3, padding=1), layer)
    with pytest.raises(NIRExportError, match=message):
        to_nir(net, (1, 4, 4))


def test_approximate_exports_soft_reset_and_max_pooling() -> None:
    net = nn.Sequential(layers.Conv2d(1, 2, 3, padding=1), LIF(v_reset=None), layers.MaxPool2d(2))
    graph = to_nir(net, (1, 4, 4), approximate=True)
    assert (graph.nodes["1"].v_reset == 0).all()
    assert type(graph.nodes["2"]).__name__ == "SumPool2d"
    assert list(graph.nodes["output"].output_type["output"]) == [2, 2, 2]


def test_export_run_writes_a_readable_file(tmp_path: Path) -> None:
    """A run folder (config + best checkpoint) of the default cnn: max pooling needs ``approximate=True``."""
    cfg = compose_run(tmp_path)
    _, module = build(cfg)
    (tmp_path / "checkpoints").mkdir()
    torch.save(
        {"state_dict": module.state_dict(), "snnlab_config": OmegaConf.to_container(cfg, resolve=True)},
        tmp_path / "checkpoints" / "best-epoch000.ckpt",
    )
    with pytest.raises(NIRExportError, match=r"layer 1 \(MaxPool2d\)"):
        export_run(tmp_path, tmp_path / "net.nir")
    out = export_run(tmp_path, tmp_path / "net.nir", approximate=True)
    graph = nir.read(out)
    assert list(graph.nodes["input"].input_type["input"]) == [1, 8, 8]
    assert list(graph.nodes["output"].output_type["output"]) == [10]

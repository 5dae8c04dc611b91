"""The papers' energy estimate of EnergyMeter: by hand, TokenLinear, a tiny transformer, a run's summary.json, and
against SpikingJelly 2.0's operation counters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn
from training_helpers import compose_run

from snnlab import layers
from snnlab.functional import configure, reset_net
from snnlab.metrics import E_AC_PJ, E_MAC_PJ, EnergyMeter
from snnlab.models import create_model
from snnlab.models.transformer.mixers import SDSA
from snnlab.models.transformer.parts import TokenLinear
from snnlab.models.transformer.stems import MembraneSPS
from snnlab.neurons import IF, LIF
from snnlab.training import run_training

X = torch.tensor([[[0.6, 0.0, 0.7, 0.2]]])  # [B=1, C=1, L=4]


class HandNet(nn.Module):
    """conv1d → IF → spikes ``s`` ([..., 2 channels, 4 positions]) into a spike matmul ``s sᵀ``, a sum over positions,
    a mask ``s ⊙ s``, a linear layer on ``s``, one on ``s + s ⊙ s = 2s`` (integer input) and one on the mean of
    ``s`` over positions (real input)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = layers.Conv1d(1, 2, 3, padding=1, bias=False, step_mode="m")
        self.neuron = IF(step_mode="m")
        self.matmul, self.sum, self.mask = layers.SpikeMatMul(), layers.SpikeSum(-1), layers.SpikeMask()
        self.spikes = layers.Linear(8, 1, bias=False, step_mode="m")
        self.doubled = layers.Linear(8, 2, bias=False, step_mode="m")
        self.mean = layers.Linear(2, 1, bias=False, step_mode="m")
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor([[[1.0, 1.0, 1.0]], [[0.0, 2.0, 0.0]]]))
            self.spikes.weight.copy_(torch.tensor([[1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0]]))
            self.doubled.weight.copy_(torch.tensor([[1.0] * 8, [0.0] * 4 + [1.0] * 4]))
            self.mean.weight.fill_(1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.neuron(self.conv(x))
        products = self.matmul(s, s.transpose(-1, -2)).sum((-1, -2)) + self.sum(s).sum((-1, -2))
        heads = self.spikes(s.flatten(-2)) + self.doubled((s + self.mask(s, s)).flatten(-2)).sum(-1, keepdim=True)
        return heads + self.mean(s.mean(-1)) + products.unsqueeze(-1)


def measure(net: nn.Module, x: torch.Tensor, samples: int, step_mode: str = "m") -> dict:
    with EnergyMeter(net) as meter, torch.no_grad():
        reset_net(net)
        if step_mode == "m":
            net(x)
        else:
            for x_t in x:
                net(x_t)
        meter.add_samples(samples)
    return meter.report()


def test_hand_count() -> None:
    """One sample ``[0.6, 0, 0.7, 0.2]`` at T = 2 steps (the same at both: direct coding).

    conv1d (kernel 3, zero padding 1): channel 0 ``[1, 1, 1]`` gives ``[0.6, 1.3, 0.9, 0.9]``, channel 1
    ``[0, 2, 0]`` gives ``[1.2, 0, 1.4, 0.4]``.  First layer, counted once: 4 positions × 2 channels × fan-in 3 =
    24 MACs (zero padding included, as FLOP counters count).  IF (V_th 1, reset to 0):
    step 1 ``s = [[0,1,0,0], [1,0,1,0]]`` (3 spikes), step 2 ``[[1,1,1,1], [1,0,1,0]]`` (6 spikes).

    - matmul ``s sᵀ``: per position, (spiking channels)² pairs: step 1 ``1+1+1+0 = 3``, step 2 ``4+1+4+1 = 10``: 13.
    - sum over positions: one per spike: 3 + 6 = 9.  Mask: 0.
    - linear on ``s`` (weights ``[1,1,1,1, 0,0,1,1]``): step 1 spikes meet weights 1, 0, 1 → 2; step 2: 4 + 1 → 5: 7.
    - linear on ``2s`` (integer; channel-0 inputs reach 1 output, channel-1 inputs 2): |x| per weight met,
      step 1: 2·1 + 2·2 + 2·2 = 10, step 2: 4·(2·1) + 2·(2·2) = 16: 26 ACs (NeuroBench: 5 + 8 = 13 MACs).
    - linear on the mean over positions, ``[0.25, 0.5]`` then ``[1, 0.5]`` (not integer): 2 + 2 = 4 MACs.

    ACs 13 + 9 + 7 + 26 = 55, MACs 24 + 4 = 28: (4.6 · 28 + 0.9 · 55) pJ = 178.3 pJ = 1.783e-7 mJ.
    """
    x = X.expand(2, 1, 1, 4)
    report = measure(HandNet(), x, samples=1)
    paper = report["paper_energy"]
    assert {name: (v["acs"], v["macs"]) for name, v in paper["by_layer"].items()} == {
        "conv": (0.0, 24.0),
        "matmul": (13.0, 0.0),
        "sum": (9.0, 0.0),
        "mask": (0.0, 0.0),
        "spikes": (7.0, 0.0),
        "doubled": (26.0, 0.0),
        "mean": (0.0, 4.0),
    }
    assert (paper["first_layer"], paper["first_layer_macs"], paper["first_layer_steps"]) == ("conv", 24.0, 1.0)
    assert (paper["acs"], paper["macs_other"]) == (55.0, 4.0)
    assert (paper["e_ac_pj"], paper["e_mac_pj"]) == (E_AC_PJ, E_MAC_PJ) == (0.9, 4.6)
    assert paper["mj_per_sample"] == pytest.approx((4.6 * 28 + 0.9 * 55) * 1e-9, rel=1e-12)
    # the NeuroBench counts see the products too, and keep their own convention
    by_layer = report["synops_by_layer"]
    assert by_layer["matmul"] == {"effective_acs": 13.0, "effective_macs": 0.0, "dense": 2 * 2 * 4 * 2}
    assert by_layer["sum"] == {"effective_acs": 9.0, "effective_macs": 0.0, "dense": 16.0}
    assert by_layer["doubled"]["effective_macs"] == 13.0
    assert by_layer["conv"] == {"effective_acs": 0.0, "effective_macs": 2 * 10.0, "dense": 2 * 20.0}
    # dense: every later input spiking at every step, products on all-one inputs
    assert paper["dense_acs"] == 32 + 16 + 0 + 2 * 8 + 2 * 16 + 2 * 2


def test_first_layer_counts_every_step_when_its_input_changes() -> None:
    """Event-like input (another sample at step 2): the first layer's 24 MACs count at both steps."""
    x = torch.cat([X, X.flip(-1)]).unsqueeze(1)  # [T=2, B=1, 1, 4]
    paper = measure(HandNet(), x, samples=1)["paper_energy"]
    assert (paper["first_layer_macs"], paper["first_layer_steps"]) == (48.0, 2.0)


@pytest.mark.parametrize("static", [True, False], ids=["static", "events"])
def test_single_step_mode_compares_each_step_with_the_previous_one(static: bool) -> None:
    """Step mode ``s``, three samples, T = 3: the same numbers as mode ``m``."""
    torch.manual_seed(0)
    x = torch.rand(1 if static else 3, 3, 1, 4).expand(3, 3, 1, 4)
    expected = measure(HandNet(), x, samples=3)["paper_energy"]
    net = HandNet()
    configure(net, "s", "torch")
    got = measure(net, x, samples=3, step_mode="s")["paper_energy"]
    assert got["first_layer_steps"] == expected["first_layer_steps"] == (1.0 if static else 3.0)
    assert got.pop("by_layer") == expected.pop("by_layer")
    assert got == pytest.approx(expected)


def test_constants_can_be_set() -> None:
    net = HandNet()
    with EnergyMeter(net, e_ac_pj=0.03, e_mac_pj=0.2) as meter, torch.no_grad():
        net(X.expand(2, 1, 1, 4))
        meter.add_samples(1)
    assert meter.paper_energy()["mj_per_sample"] == pytest.approx((0.2 * 28 + 0.03 * 55) * 1e-9)


def test_token_linear_counts_as_its_1x1_conv() -> None:
    """TokenLinear's channels are axis -3 of ``[T, B, C, H, W]``: its counts are those of the same map as a 1×1 conv.
    A leading conv makes both the second layer; 9 of 2·16 inputs spike per step, every weight non-zero: 9 · 3 ACs."""
    torch.manual_seed(0)
    token, conv = TokenLinear(2, 3), layers.Conv2d(2, 3, 1, step_mode="m")
    with torch.no_grad():
        conv.weight.copy_(token.weight[:, :, None, None])
    spikes = torch.zeros(2, 1, 2, 4, 4)
    spikes.view(2, -1)[0, [0, 3, 5, 8, 13, 17, 20, 26, 31]] = 1
    spikes.view(2, -1)[1, [1, 2, 6, 9, 14, 18, 21, 27, 30]] = 1
    reports = []
    for layer in (token, conv):
        net = nn.Sequential(layers.Conv2d(2, 2, 1, bias=False, step_mode="m"), layer)
        with torch.no_grad():
            net[0].weight.copy_(torch.eye(2)[:, :, None, None])  # passes the spikes on
        reports.append(measure(net, spikes, samples=1))
    token_report, conv_report = reports
    assert token_report["synops_by_layer"]["1"] == conv_report["synops_by_layer"]["1"]
    assert token_report["synops_by_layer"]["1"] == {"effective_acs": 54.0, "effective_macs": 0.0, "dense": 192.0}
    assert token_report["paper_energy"]["by_layer"]["1"] == conv_report["paper_energy"]["by_layer"]["1"]
    assert token_report["paper_energy"]["by_layer"]["1"]["acs"] == 54.0


@pytest.mark.parametrize("static", [True, False], ids=["static", "events"])
def test_token_linear_as_first_layer(static: bool) -> None:
    """A plain module without a step mode: ``[T, B, C, H, W]`` has one dimension more than its step input, so the
    steps are compared; 16 tokens × 2 × 3 = 96 MACs per counted step."""
    torch.manual_seed(0)
    x = torch.rand(1 if static else 3, 2, 2, 4, 4).expand(3, 2, 2, 4, 4)
    paper = measure(nn.Sequential(TokenLinear(2, 3)), x, samples=2)["paper_energy"]
    steps = 1 if static else 3
    assert (paper["first_layer"], paper["first_layer_steps"], paper["first_layer_macs"]) == ("0", steps, 96 * steps)


def scaled(net: nn.Module, gain: float = 12.0) -> nn.Module:
    """Weights of every connection layer scaled so an untrained net without norms spikes in every layer."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.mul_(gain / m.weight.std() / m.weight[0].numel() ** 0.5)
    return net.eval()


def tiny_transformer(**kwargs: object) -> nn.Module:
    torch.manual_seed(0)
    net = create_model("transformer", input_shape=(3, 16, 16), num_classes=10, dim=32, heads=4, depths=[1], **kwargs)
    return scaled(net)


IMAGES = torch.rand(4, 2, 3, 16, 16, generator=torch.Generator().manual_seed(1))[:1].expand(4, 2, 3, 16, 16)


def test_tiny_transformer_energy() -> None:
    """Spikformer-style (SPS, SSA, spike residuals): the first conv (3 → 4 channels, 3×3 on 16×16) counts
    16·16·4·27 = 27 648 MACs once; the attention's matrix products add ACs."""
    report = measure(tiny_transformer(), IMAGES, samples=2)
    paper = report["paper_energy"]
    assert (paper["first_layer"], paper["first_layer_macs"], paper["first_layer_steps"]) == ("stages.0.0.0", 27648, 1)
    attention = "stages.0.1.0.branch.0"
    for product in ("first", "second"):
        assert report["synops_by_layer"][f"{attention}.{product}"]["effective_acs"] > 0
        assert paper["by_layer"][f"{attention}.{product}"]["acs"] > 0
    assert paper["acs"] > 0 and paper["macs_other"] > 0  # the head reads the mean over tokens: MACs
    assert 0 < paper["mj_per_sample"] < paper["dense_mj_per_sample"]
    assert paper["mj_per_sample"] == pytest.approx(
        (4.6 * (paper["first_layer_macs"] + paper["macs_other"]) + 0.9 * paper["acs"]) * 1e-9
    )


def test_summary_json_of_a_transformer_run_holds_the_estimate(tmp_path: Path) -> None:
    run = ["model=transformer", "model.dim=16", "model.heads=2", "model.depths=[1]", "trainer.max_epochs=1"]
    run += ["+trainer.limit_train_batches=2", "+trainer.limit_val_batches=1", "+trainer.limit_test_batches=2"]
    run_training(compose_run(tmp_path, run))
    energy = json.loads((tmp_path / "summary.json").read_text())["energy"]
    paper = energy["paper_energy"]
    assert energy["samples"] == 32 and paper["first_layer"] == "stages.0.0.0"
    assert paper["first_layer_macs"] == 8 * 8 * 2 * 9 and paper["first_layer_steps"] == 1  # digits: 1×8×8, T=2
    assert paper["mj_per_sample"] > 0 and "stages.0.1.0.branch.0.first" in paper["by_layer"]


# ---------------------------------------------------------------- against SpikingJelly 2.0's counters


def spikingjelly_counts(net: nn.Module, x: torch.Tensor) -> tuple[dict, dict]:
    """SynOps and MACs per module scope (``<root class>.<name>``), summed over the ops counted there."""
    counter = pytest.importorskip("spikingjelly.activation_based.op_counter", reason="needs the test-sj extra")
    synops, macs = counter.SynOpCounter(), counter.MACCounter()
    with torch.no_grad():
        reset_net(net)
        with counter.DispatchCounterMode([synops, macs]):
            net(x)
    root = type(net).__name__
    return tuple(
        {scope.removeprefix(f"{root}."): sum(ops.values()) for scope, ops in c.get_counts().items()}
        for c in (synops, macs)
    )


def spiking_cnn() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(
        layers.Conv2d(2, 8, 3, padding=1, step_mode="m"),
        LIF(tau=2.0, step_mode="m"),
        layers.Conv2d(8, 8, 3, stride=2, padding=1, bias=False, step_mode="m"),
        LIF(tau=2.0, step_mode="m"),
        layers.MaxPool2d(2, step_mode="m"),
        layers.Flatten(step_mode="m"),
        layers.Linear(8 * 4 * 4, 16, step_mode="m"),
        LIF(tau=2.0, step_mode="m"),
        layers.Linear(16, 10, step_mode="m"),
    )
    return scaled(net, gain=6.0)


@pytest.mark.parametrize("static", [True, False], ids=["static", "events"])
def test_spiking_cnn_matches_spikingjelly(static: bool) -> None:
    """SpikingJelly's SynOpCounter counts one AC per spike and weight it meets (conv and linear), its MACCounter
    dense MACs of real-valued inputs at every call: every layer agrees, the first once per step of a changing input
    and T times ours for a static one (SpikingJelly has no once-per-sample rule)."""
    torch.manual_seed(0)
    x = torch.rand(1 if static else 4, 3, 2, 16, 16).expand(4, 3, 2, 16, 16) * 2
    net = spiking_cnn()
    paper = measure(net, x, samples=3)["paper_energy"]
    synops, macs = spikingjelly_counts(net, x)
    assert paper["first_layer_macs"] * 3 * (4 if static else 1) == macs["0"] > 0
    for name in ("2", "6", "8"):
        assert paper["by_layer"][name]["acs"] * 3 == synops[name] > 0, name
        assert paper["by_layer"][name]["macs"] == macs[name] == 0
    assert paper["acs"] * 3 == synops["Global"]


@pytest.mark.parametrize("style", ["spike_driven", "spikformer"])
def test_transformer_matches_spikingjelly(style: str) -> None:
    """Tiny transformers, layer by layer.  Spike-driven (membrane shortcut, SDSA, head neuron): every connection
    layer after the first gets binary spikes and all agree.  Spikformer (spike residuals): where SpikingJelly sees
    binary input it agrees, with the first attention product (binary Q Kᵀ) too; the layers after a spike-adding
    residual get integer sums of spikes, which SpikingJelly counts as dense MACs and we as ACs (one per spike),
    and it counts the second product (integer Q Kᵀ times V) as every entry of Q Kᵀ, zero or not, times the spikes of
    V, where we count non-zero pairs only."""
    kwargs = {"stem": MembraneSPS(), "token_mixer": SDSA(), "residual": "membrane", "head_neuron": True}
    net = tiny_transformer(**(kwargs if style == "spike_driven" else {}))
    paper = measure(net, IMAGES, samples=2)["paper_energy"]
    synops, macs = spikingjelly_counts(net, IMAGES)
    first = paper["first_layer"]
    assert paper["first_layer_macs"] * 2 * 4 == macs[first]
    compared = [name for name, m in net.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear)) and name != first]
    integer = {name for name in compared if macs[name]}
    if style == "spikformer":  # Q, K, V and the MLP's first layer read spike sums, the head a mean over tokens
        block = "stages.0.1"
        assert "head" in integer
        assert integer <= {f"{block}.0.branch.0.{b}.0" for b in "qkv"} | {f"{block}.1.branch.0", "head"}
    else:
        assert not integer
    for name in compared:
        if name not in integer:
            assert paper["by_layer"][name]["acs"] * 2 == synops[name] > 0, name
    if style == "spikformer":
        attention = "stages.0.1.0.branch.0"
        assert paper["by_layer"][f"{attention}.first"]["acs"] * 2 == synops[f"{attention}.first"] > 0
        assert paper["by_layer"][f"{attention}.second"]["acs"] * 2 <= synops[f"{attention}.second"]

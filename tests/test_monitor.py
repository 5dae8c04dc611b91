"""SpikeMonitor: hook-based spike / membrane recording and firing rates."""

from __future__ import annotations

import math

import torch
from torch import nn

from snnlab import layers
from snnlab.functional import reset_net
from snnlab.monitor import SpikeMonitor
from snnlab.neurons import IF, LIF, OTTTLIF

T, B = 4, 2


def _net(step_mode: str = "m", store_v_seq: bool = False) -> nn.Sequential:
    return nn.Sequential(
        layers.Linear(3, 3, bias=False, step_mode=step_mode),
        IF(step_mode=step_mode, store_v_seq=store_v_seq),
        layers.Linear(3, 2, bias=False, step_mode=step_mode),
        LIF(step_mode=step_mode),
    )


def _identity_weights(net: nn.Sequential) -> None:
    with torch.no_grad():
        net[0].weight.copy_(torch.eye(3))
        net[2].weight.copy_(torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]]))


def test_firing_rates_match_hand_count():
    net = _net()
    _identity_weights(net)
    # layer 1 (IF, hard reset): x = 0.5 fires at t = 1, 3; x = 1 at every step; x = 0 never -> 6 of 12 per sample
    x = torch.tensor([0.5, 1.0, 0.0]).expand(T, B, 3)
    with SpikeMonitor(net) as mon:
        net(x)
    assert mon.layers == ["1", "3"]
    rates = mon.firing_rates()
    assert math.isclose(rates["1"], (2 + 4 + 0) / 12)
    # layer 3 (LIF τ=2) neuron 0 gets 1, 2, 1, 2: h = 0.5, 1.25 (fire), 0.5, 1.25 (fire); neuron 1 gets 0
    assert math.isclose(mon.spike_counts()["1"], B * 6)
    assert math.isclose(mon.spike_counts()["3"], B * 2)
    assert math.isclose(rates["3"], 2 / 8)
    assert math.isclose(mon.mean_firing_rate(), (12 + 4) / (24 + 16))
    assert mon.records == {"1": [], "3": []}  # cheap mode keeps no tensors


def test_store_mode_records_tensors_and_v_in_both_step_modes():
    torch.manual_seed(0)
    x = torch.rand(T, B, 3) * 2
    net_m = _net("m", store_v_seq=True)
    net_s = _net("s")
    net_s.load_state_dict(net_m.state_dict())
    with SpikeMonitor(net_m, store=True, record_v=True) as mon_m:
        y_m = net_m(x)
    with SpikeMonitor(net_s, store=True, record_v=True) as mon_s:
        y_s = torch.stack([net_s(x_t) for x_t in x])
    torch.testing.assert_close(y_s, y_m)
    assert len(mon_m.records["3"]) == 1 and len(mon_s.records["3"]) == T
    torch.testing.assert_close(torch.stack(mon_s.records["3"]), mon_m.records["3"][0])
    torch.testing.assert_close(torch.stack(mon_s.v_records["1"]), mon_m.v_records["1"][0])  # v_seq vs per-step v
    assert mon_m.records["3"][0].device.type == "cpu" and not mon_m.records["3"][0].requires_grad
    assert mon_m.firing_rates() == mon_s.firing_rates()


def test_hooks_removed_and_clear():
    net = _net()
    _identity_weights(net)
    mon = SpikeMonitor(net, store=True)
    net(torch.ones(T, B, 3))
    assert mon.spike_counts()["1"] > 0
    mon.clear()
    assert mon.spike_counts() == {"1": 0.0, "3": 0.0}
    assert mon.records == {"1": [], "3": []}
    assert math.isnan(mon.firing_rates()["1"])
    mon.remove()
    reset_net(net)
    net(torch.ones(T, B, 3))
    assert mon.spike_counts() == {"1": 0.0, "3": 0.0}
    assert all(not m._forward_hooks for m in net.modules())


def test_layer_filter_and_ottt_outputs():
    neuron = OTTTLIF(v_threshold=0.5)
    net = nn.Sequential(nn.Identity(), neuron, IF())
    with SpikeMonitor(net, store=True, layer_filter=lambda name, m: isinstance(m, OTTTLIF)) as mon:
        neuron(torch.ones(B, 3))  # training: [spike, trace]
    assert mon.layers == ["1"]
    assert mon.firing_rates() == {"1": 1.0}
    assert isinstance(mon.records["1"][0], torch.Tensor)

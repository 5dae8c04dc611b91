"""Stateless step-mode layers fold time into the batch; network helpers set modes and backends."""

import copy
import inspect
import pickle

import pytest
import torch
from torch import nn

from snnlab import functional, layers
from snnlab.neurons import LIF

CASES = [
    (lambda m: layers.Conv1d(2, 3, 3, step_mode=m), (2, 9)),
    (lambda m: layers.Conv2d(2, 3, 3, padding=1, step_mode=m), (2, 6, 6)),
    (lambda m: layers.Conv3d(2, 3, 2, step_mode=m), (2, 4, 4, 4)),
    (lambda m: layers.Linear(5, 4, step_mode=m), (5,)),
    (lambda m: layers.MaxPool2d(2, step_mode=m), (2, 6, 6)),
    (lambda m: layers.AvgPool2d(2, step_mode=m), (2, 6, 6)),
    (lambda m: layers.AdaptiveAvgPool2d((1, 1), step_mode=m), (2, 5, 7)),
    (lambda m: layers.Flatten(step_mode=m), (2, 3, 3)),
    (lambda m: layers.Upsample(scale_factor=2, step_mode=m), (2, 3, 3)),
    (lambda m: layers.TimeFold(nn.Conv2d(2, 2, 1), nn.ReLU(), step_mode=m), (2, 3, 3)),
]


@pytest.mark.parametrize(("build", "sample"), CASES)
def test_multi_step_equals_per_step_loop(build, sample):
    torch.manual_seed(0)
    layer = build("m")
    x = torch.randn(4, 3, *sample)
    y = layer(x)
    layer.step_mode = "s"
    torch.testing.assert_close(y, torch.stack([layer(xt) for xt in x]))


# each twin built with every torch argument given positionally, distinct and off its default where torch allows it
TWINS = [
    ("Conv1d", (6, 9, 4, 2, 1, 5, 3, False, "reflect"), (6, 30)),
    ("Conv2d", (6, 9, 4, 1, "same", 5, 3, False, "circular"), (6, 12, 12)),
    ("Conv3d", (4, 6, 3, 1, "same", 5, 2, True, "replicate"), (4, 6, 6, 6)),
    ("ConvTranspose2d", (6, 9, 4, 5, 1, 2, 3, False, 7), (6, 3, 3)),
    ("Linear", (5, 3, False), (5,)),
    ("MaxPool1d", (4, 3, 1, 2, False, True), (2, 15)),
    ("MaxPool2d", (4, 3, 1, 2, False, True), (2, 15, 15)),
    ("MaxPool3d", (3, 4, 1, 2, False, True), (2, 9, 9, 9)),
    ("AvgPool1d", (3, 2, 1, True, False), (2, 9)),
    ("AvgPool2d", (3, 2, 1, True, False, 5), (2, 7, 7)),
    ("AvgPool3d", (3, 2, 1, True, False, 5), (2, 5, 5, 5)),
    ("AdaptiveAvgPool1d", (3,), (2, 7)),
    ("AdaptiveAvgPool2d", ((2, 3),), (2, 5, 7)),
    ("AdaptiveAvgPool3d", ((1, 2, 2),), (2, 3, 5, 5)),
    ("AdaptiveMaxPool2d", ((2, 3), False), (2, 5, 7)),
    ("Flatten", (2, 3), (2, 3, 4, 5)),
    ("Upsample", (None, 2.0, "bilinear", True), (2, 3, 3)),
    ("Identity", (7, "ignored"), (2, 3)),
]


@pytest.mark.parametrize("name", [name for name, _, _ in TWINS])
def test_twin_is_a_class_statement_with_the_torch_signature_plus_step_mode(name):
    cls, torch_cls = getattr(layers, name), getattr(nn, name)
    assert cls.__qualname__ == name and cls.__module__ == "snnlab.layers.stateless"
    assert inspect.getsource(cls).startswith(f"class {name}(")
    assert issubclass(cls, torch_cls)
    ours = inspect.signature(cls).parameters
    step_mode = ours["step_mode"]
    assert (step_mode.kind, step_mode.default) == (inspect.Parameter.KEYWORD_ONLY, "s")
    theirs = inspect.signature(torch_cls).parameters.values()
    assert [(p.name, p.kind, p.default) for p in ours.values() if p.name != "step_mode"] == [
        (p.name, p.kind, p.default) for p in theirs
    ]


@pytest.mark.parametrize(("name", "args", "sample"), TWINS)
def test_twin_forwards_every_argument_to_torch(name, args, sample):
    torch.manual_seed(0)
    layer, plain = getattr(layers, name)(*args, step_mode="m"), getattr(nn, name)(*args)
    plain.load_state_dict(layer.state_dict())
    assert layer.extra_repr() == ", ".join(filter(None, [plain.extra_repr(), "step_mode=m"]))
    x = torch.randn(4, 3, *sample)
    torch.testing.assert_close(layer(x), plain(x.flatten(0, 1)).unflatten(0, (4, 3)))


def test_wrappers_are_torch_layers_with_same_state_dict():
    conv = layers.Conv2d(1, 2, 3, step_mode="m")
    assert isinstance(conv, nn.Conv2d)
    plain = nn.Conv2d(1, 2, 3)
    plain.load_state_dict(conv.state_dict())
    x = torch.randn(3, 1, 5, 5)
    torch.testing.assert_close(conv(x[None]).squeeze(0), plain(x))
    assert pickle.loads(pickle.dumps(conv)).step_mode == "m"


def test_set_step_mode_switches_every_module_and_outputs_agree():
    torch.manual_seed(0)
    net = nn.Sequential(
        layers.Conv2d(1, 4, 3, padding=1), LIF(), layers.Flatten(), layers.Linear(64, 3), LIF(v_threshold=0.05)
    )
    x = torch.rand(5, 2, 1, 4, 4) * 8
    functional.set_step_mode(net, "m")
    y_m = net(x)
    functional.reset_net(net)
    functional.set_step_mode(net, "s")
    y_s = torch.stack([net(xt) for xt in x])
    torch.testing.assert_close(y_m, y_s)
    assert y_m.sum() > 0


def test_set_step_mode_rejects_plain_torch_layers_in_multi_step():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), LIF())
    with pytest.raises(TypeError, match=r"plain torch.nn.Conv2d.*snnlab.layers.Conv2d"):
        functional.set_step_mode(net, "m")
    functional.set_step_mode(net, "s")  # fine in single-step mode
    functional.set_step_mode(nn.Sequential(layers.TimeFold(nn.Conv2d(1, 2, 3))), "m")


def test_reset_net_resets_every_neuron_and_copies_carry_initial_state():
    net = nn.Sequential(LIF(step_mode="m"), nn.Sequential(LIF(step_mode="m", v_reset=None)))
    net(torch.rand(2, 3) * 3)
    clone = copy.deepcopy(net)
    assert clone[0].v == 0.0
    functional.reset_net(net)
    assert net[0].v == 0.0 and net[1][0].v == 0.0


def test_set_backend_validates_names():
    net = nn.Sequential(LIF(), LIF())
    functional.set_backend(net, "auto")
    assert {m.backend for m in net} == {"auto"}
    with pytest.raises(ValueError, match=r"backend.'jax'.*valid: auto, cpu, cupy, torch"):
        functional.set_backend(net, "jax")


def test_unknown_or_unsupported_step_mode():
    with pytest.raises(ValueError, match=r"Linear: step_mode='multi': must be 'm' .* or 's'"):
        layers.Linear(2, 2, step_mode="multi")

"""The model builders' options: each size is checked by its builder (an InvalidArgument naming the parameter), the
registered init / connect / pool components, dropout refused where a family has no place for it, and the step mode
applied once by create_model."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import nn

from snnlab import layers, registry
from snnlab.models import (
    BN,
    AvgPool,
    DropConnect,
    Init,
    KaimingFanOut,
    MaxPool,
    SpikingDropout,
    TdBN,
    VGGInit,
    XavierUniform,
    create_model,
    default_neuron,
    list_models,
)
from snnlab.models.blocks import width
from snnlab.validate import InvalidArgument

SHAPE = (2, 16, 16)
BASE: dict[str, dict[str, Any]] = {  # valid small options; each case below overrides some of them
    "mlp": {"hidden": [8]},
    "cnn": {"channels": [4], "hidden": 8},
    "vgg": {"depth": 9, "width_mult": 1 / 16},
    "bntt_vgg": {"width_mult": 1 / 16},
    "vggsnn": {"width_mult": 1 / 16},
    "cifarnet": {"width_mult": 1 / 32},
    "ottt_vgg": {"channels": [4, "A", 4]},
    "plif_net": {"channels": 4, "hidden": 8},
    "resnet19": {"width_mult": 1 / 32},
    "sew_resnet": {"depth": 18, "width_mult": 1 / 16},
    "sew_dvs": {"channels": [4, 4]},
    "transformer": {"dim": 16, "heads": 2, "depths": [1]},
}

BAD_SIZES = [  # (family, options, the parameter the error names)
    ("mlp", {"hidden": [0]}, "hidden"),
    ("mlp", {"hidden": 0}, "hidden"),
    ("mlp", {"hidden": [-3]}, "hidden"),
    ("mlp", {"hidden": "abc"}, "hidden"),
    ("cnn", {"hidden": 0}, "hidden"),
    ("cnn", {"hidden": -1}, "hidden"),
    ("cnn", {"channels": [4, 0]}, "channels"),
    ("cnn", {"channels": 4}, "channels"),
    ("vgg", {"width_mult": 0}, "width_mult"),
    ("vgg", {"width_mult": -0.5}, "width_mult"),
    ("vgg", {"hidden": -4}, "hidden"),
    ("vgg", {"hidden": [512]}, "hidden"),
    ("vgg", {"depth": 7}, "depth"),
    ("bntt_vgg", {"depth": 13}, "depth"),
    ("bntt_vgg", {"hidden": [0]}, "hidden"),
    ("bntt_vgg", {"width_mult": 0}, "width_mult"),
    ("bntt_vgg", {"ceil_mode": False}, "ceil_mode"),  # not an option (the pool node has it)
    ("vggsnn", {"width_mult": "abc"}, "width_mult"),
    ("vggsnn", {"global_pool": 1}, "global_pool"),
    ("cifarnet", {"width_mult": 0}, "width_mult"),
    ("cifarnet", {"conv_dropout": "yes"}, "conv_dropout"),
    ("ottt_vgg", {"channels": [4, "P", 4]}, "channels"),
    ("ottt_vgg", {"channels": [4, 0]}, "channels"),
    ("ottt_vgg", {"width_mult": 0}, "width_mult"),
    ("ottt_vgg", {"output_scale": 0}, "output_scale"),
    ("plif_net", {"channels": 0}, "channels"),
    ("plif_net", {"channels": [8]}, "channels"),
    ("plif_net", {"stages": []}, "stages"),
    ("plif_net", {"stages": [1, 0]}, "stages"),
    ("plif_net", {"hidden": 0}, "hidden"),
    ("plif_net", {"fc_dropout": [2]}, "fc_dropout"),
    ("plif_net", {"width_mult": 0}, "width_mult"),
    ("resnet19", {"hidden": "abc"}, "hidden"),
    ("resnet19", {"hidden": 0}, "hidden"),
    ("resnet19", {"stem_channels": 0}, "stem_channels"),
    ("resnet19", {"width_mult": 0}, "width_mult"),
    ("resnet19", {"fc_norm": "no"}, "fc_norm"),
    ("sew_resnet", {"depth": 20}, "depth"),
    ("sew_resnet", {"width_mult": 0}, "width_mult"),
    ("sew_dvs", {"channels": []}, "channels"),
    ("sew_dvs", {"channels": [4, -1]}, "channels"),
    ("sew_dvs", {"width_mult": -1}, "width_mult"),
    ("transformer", {"dim": 0}, "dim"),
    ("transformer", {"heads": 3}, "heads"),
    ("transformer", {"depths": [1, 1]}, "depths"),
    ("transformer", {"mlp_ratio": 0}, "mlp_ratio"),
    ("transformer", {"residual": "sum"}, "residual"),
    # a component given by name instead of as the built node
    ("sew_dvs", {"connect": "ADD"}, "connect"),
    ("sew_resnet", {"init": "kaiming_fan_out"}, "init"),
    ("plif_net", {"pool": "max"}, "pool"),
    ("transformer", {"stem": "sps"}, "stem"),
    # a dropout the family has no place for
    ("sew_resnet", {"dropout": SpikingDropout()}, "dropout"),
    ("sew_dvs", {"dropout": DropConnect()}, "dropout"),
    ("vggsnn", {"dropout": SpikingDropout()}, "dropout"),
    ("transformer", {"dropout": SpikingDropout()}, "dropout"),
    ("ottt_vgg", {"dropout": DropConnect()}, "dropout"),
    ("plif_net", {"fc_dropout": [], "dropout": SpikingDropout()}, "dropout"),
    ("mlp", {"hidden": [], "dropout": SpikingDropout()}, "dropout"),
]


def build(name: str, **options: Any) -> nn.Module:
    shape = (math.prod(SHAPE),) if name == "mlp" else SHAPE
    return create_model(name, input_shape=shape, num_classes=10, **{**BASE[name], **options})


def test_every_family_has_a_case() -> None:
    assert set(BASE) == set(list_models())
    assert {name for name, _, _ in BAD_SIZES} == set(BASE)


@pytest.mark.parametrize(("name", "options", "argument"), BAD_SIZES, ids=lambda v: str(v))
def test_bad_option_names_its_parameter(name: str, options: dict[str, Any], argument: str) -> None:
    with pytest.raises(InvalidArgument) as error:
        build(name, **options)
    assert error.value.argument == argument
    assert error.value.value == options[argument]


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("mlp", {"hidden": []}),  # a linear readout of the input
        ("plif_net", {"fc_dropout": [], "dropout": DropConnect()}),  # DropConnect replaces the hidden FC layer
        ("sew_dvs", {"dropout": None}),
        ("vgg", {"hidden": 3, "dropout": SpikingDropout()}),
        ("ottt_vgg", {"output_scale": None, "dropout": SpikingDropout()}),
    ],
)
def test_edge_options_that_build(name: str, options: dict[str, Any]) -> None:
    build(name, **options)


def test_width_refuses_a_non_positive_multiplier() -> None:
    assert width(64, 1 / 256) == 1  # a tiny positive multiplier keeps one unit
    for mult in (0, -1.0):
        with pytest.raises(InvalidArgument, match="width_mult"):
            width(64, mult)


def test_dropout_refusal_says_why() -> None:
    with pytest.raises(InvalidArgument, match=r"sew_dvs has no dropout positions .*use dropout=none"):
        build("sew_dvs", dropout=SpikingDropout())


# ---------------------------------------------------------------- the init, connect and pool kinds


def test_registered_component_names() -> None:
    assert registry.names("init") == ["default", "kaiming_fan_out", "trunc_normal", "vgg", "xavier_uniform"]
    assert registry.names("connect") == ["ADD", "AND", "IAND"]
    assert registry.names("pool") == ["avg", "max"]


def test_kaiming_fan_out_std() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(64, 256, 3), nn.Linear(32, 32))
    linear = net[1].weight.clone()
    registry.build("init", "kaiming_fan_out")(net)
    fan_out = 256 * 3 * 3
    assert net[0].weight.std().item() == pytest.approx(math.sqrt(2.0 / fan_out), rel=0.02)
    assert torch.equal(net[1].weight, linear)  # convs only


def test_vgg_init() -> None:
    torch.manual_seed(0)
    net = VGGInit()(nn.Sequential(nn.Conv2d(32, 128, 3), nn.Linear(512, 512)))
    assert net[0].weight.std().item() == pytest.approx(math.sqrt(2.0 / (128 * 9)), rel=0.03)
    assert net[1].weight.std().item() == pytest.approx(0.01, rel=0.02)
    assert not net[0].bias.any() and not net[1].bias.any()


def test_xavier_uniform_gain() -> None:
    torch.manual_seed(0)
    net = XavierUniform(gain=2.0)(nn.Sequential(nn.Conv2d(16, 32, 3), nn.Linear(100, 60)))
    for m, (fan_in, fan_out) in zip(net, [(16 * 9, 32 * 9), (100, 60)]):
        bound = 2.0 * math.sqrt(6.0 / (fan_in + fan_out))
        assert 0.95 * bound < m.weight.abs().max().item() <= bound
    with pytest.raises(InvalidArgument, match="gain"):
        XavierUniform(gain=0.0)


def test_default_init_keeps_torch_weights() -> None:
    net = nn.Sequential(nn.Conv2d(2, 4, 3), nn.Linear(4, 4))
    before = [p.clone() for p in net.parameters()]
    assert Init()(net) is net
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))


def test_builders_apply_their_init() -> None:
    torch.manual_seed(0)
    ref = create_model("sew_resnet", input_shape=(3, 64, 64), num_classes=10, depth=18, width_mult=1 / 2)
    conv = next(
        m for m in ref.modules() if isinstance(m, nn.Conv2d) and m.out_channels == 256 and m.kernel_size == (3, 3)
    )
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2.0 / (256 * 9)), rel=0.03)  # the reference init
    assert isinstance(registry.build("init", "kaiming_fan_out"), KaimingFanOut)


def test_connect_functions_on_real_values() -> None:
    """g(A, S) worked by hand on non-binary values: ADD A+S, AND A·S, IAND (1−A)·S."""
    a, s = torch.tensor([0.0, 1.0, 0.5]), torch.tensor([2.0, 3.0, 4.0])
    results = {name: registry.build("connect", name)(a, s).tolist() for name in ("ADD", "AND", "IAND")}
    assert results == {"ADD": [2.0, 4.0, 4.5], "AND": [0.0, 3.0, 2.0], "IAND": [2.0, 0.0, 2.0]}


@pytest.mark.parametrize("pool", [MaxPool(), MaxPool(ceil_mode=False), AvgPool(), AvgPool(ceil_mode=False)], ids=repr)
@pytest.mark.parametrize("hw", [(1, 1), (7, 8), (34, 17)])
def test_pool_output_size(pool: Any, hw: tuple[int, int]) -> None:
    expected = tuple((n + 1) // 2 if pool.ceil_mode else n // 2 for n in hw)  # 7 -> 4 (ceil) or 3 (floor)
    assert pool.out_size(hw) == expected
    layer = pool.layer()
    assert isinstance(layer, layers.MaxPool2d if isinstance(pool, MaxPool) else layers.AvgPool2d)
    if min(expected) > 0:
        assert tuple(layer(torch.rand(1, 2, *hw)).shape[-2:]) == expected
    with pytest.raises(InvalidArgument, match="ceil_mode"):
        type(pool)(ceil_mode="yes")


def test_floor_pools_need_a_large_enough_input() -> None:
    with pytest.raises(ValueError, match=r"model 'plif_net' cannot take the data's input_shape \(1, 3, 3\)"):
        create_model("plif_net", input_shape=(1, 3, 3), num_classes=10, channels=4)
    create_model("plif_net", input_shape=(1, 3, 3), num_classes=10, channels=4, pool=MaxPool())  # ceil: any size


# ---------------------------------------------------------------- step mode: applied once, after the build


def step_modes(net: nn.Module) -> set[str]:
    return {m.step_mode for m in net.modules() if hasattr(m, "step_mode")}


def test_default_neuron_has_the_default_step_mode() -> None:
    assert default_neuron().step_mode == "s"


@pytest.mark.parametrize("name", sorted(BASE))
def test_builders_leave_the_default_step_mode(name: str) -> None:
    shape = (math.prod(SHAPE),) if name == "mlp" else SHAPE
    net = registry.build("model", name, input_shape=shape, num_classes=10, norm=BN(), **BASE[name])
    assert step_modes(net) == {"s"}


def test_create_model_is_multi_step_by_default_and_single_step_on_request() -> None:
    options = {"input_shape": (1, 8, 8), "num_classes": 10, "norm": BN(), "dropout": SpikingDropout(p=0.3)}
    multi = create_model("cnn", **options).eval()
    single = create_model("cnn", step_mode="s", **options).eval()
    assert step_modes(multi) == {"m"} and step_modes(single) == {"s"}
    single.load_state_dict(multi.state_dict())
    x = torch.rand(4, 2, 1, 8, 8)
    torch.testing.assert_close(torch.stack([single(x_t) for x_t in x]), multi(x))


def test_create_model_refuses_a_step_mode_a_layer_cannot_run() -> None:
    with pytest.raises(ValueError, match="step_mode"):
        create_model("resnet19", input_shape=(3, 8, 8), num_classes=10, norm=TdBN(), width_mult=1 / 32, step_mode="s")


def test_trunc_normal_std_and_layer_types() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(64, 256, 3), nn.Linear(512, 512))
    conv = net[0].weight.clone()
    registry.build("init", "trunc_normal", std=0.02, layers=("linear",))(net)
    assert net[1].weight.std().item() == pytest.approx(0.02, rel=0.02) and not net[1].bias.any()
    assert torch.equal(net[0].weight, conv)  # linear layers only
    registry.build("init", "trunc_normal", std=0.05, layers=("conv",))(net)
    assert net[0].weight.std().item() == pytest.approx(0.05, rel=0.02)
    with pytest.raises(InvalidArgument, match="layers"):
        registry.build("init", "trunc_normal", layers=("dense",))

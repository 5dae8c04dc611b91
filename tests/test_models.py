"""Every registered model builds and runs for every input layout, with every neuron, norm and dropout."""

from __future__ import annotations

import pytest
import torch

from snnlab import registry
from snnlab.functional import reset_net, set_step_mode
from snnlab.models import BNTT, DropConnect, SpikingDropout, TdBN, create_model, list_models

SHAPES = [(1, 28, 28), (3, 32, 32), (2, 48, 48), (2, 34, 34)]
SMALL = {"cnn": {}, "mlp": {"hidden": [16]}, "vgg": {"width_mult": 1 / 16}, "resnet19": {"width_mult": 1 / 32}}


def test_registry_lists_the_families() -> None:
    assert {"cnn", "mlp", "vgg", "resnet19"} <= set(list_models())


def test_unknown_model_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown model 'nope'.*cnn"):
        create_model("nope", input_shape=(1, 8, 8), num_classes=10)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("name", sorted(SMALL))
def test_model_forward_any_input_size(name: str, shape: tuple[int, ...]) -> None:
    net = create_model(name, input_shape=shape, num_classes=10, **SMALL[name])
    out = net(torch.rand(2, 3, *shape) * 4)
    assert out.shape == (2, 3, 10)
    out.sum().backward()
    for pname, p in net.named_parameters():
        assert p.grad is not None, f"{name}: no gradient reaches {pname}"


@pytest.mark.parametrize("depth", [9, 11, 13, 16])
def test_vgg_depths(depth: int) -> None:
    net = create_model("vgg", input_shape=(3, 32, 32), num_classes=10, depth=depth, width_mult=1 / 16)
    weights = [m for m in net.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert len(weights) == depth
    assert net(torch.rand(1, 2, 3, 32, 32)).shape == (1, 2, 10)


@pytest.mark.parametrize("norm", ["none", "bn", "tdbn", "tebn", "bntt", "neunorm"])
@pytest.mark.parametrize("name", sorted(SMALL))
def test_every_model_with_every_norm(name: str, norm: str) -> None:
    net = create_model(
        name,
        input_shape=(2, 12, 12),
        num_classes=10,
        norm=registry.build("norm", norm, **({"T": 3} if norm in ("tebn", "bntt") else {})),
        dropout=SpikingDropout(p=0.2),
        **SMALL[name],
    )
    assert net(torch.rand(3, 2, 2, 12, 12)).shape == (3, 2, 10)


@pytest.mark.parametrize("neuron", registry.names("neuron"))
def test_step_modes_agree(neuron: str) -> None:
    torch.manual_seed(0)
    net = create_model(
        "cnn",
        input_shape=(1, 8, 8),
        num_classes=10,
        make_neuron=lambda: registry.build("neuron", neuron, step_mode="m"),
        norm=BNTT(T=3),
        dropout=DropConnect(p=0.3),
    ).eval()
    x = torch.rand(3, 2, 1, 8, 8)
    multi = net(x)
    reset_net(net)
    set_step_mode(net, "s")
    single = torch.stack([net(x_t) for x_t in x])
    torch.testing.assert_close(single, multi)


def test_tdbn_residual_branches_use_alpha_over_sqrt2() -> None:
    net = create_model("resnet19", input_shape=(3, 8, 8), num_classes=10, norm=TdBN(), width_mult=1 / 32)
    alphas = {round(m.alpha, 4) for m in net.modules() if hasattr(m, "alpha")}
    assert alphas == {1.0, round(2**-0.5, 4)}


@pytest.mark.parametrize("name", ["cnn", "vgg", "resnet19"])
def test_conv_models_reject_1d_input_with_a_hint(name: str) -> None:
    with pytest.raises(ValueError, match=rf"model '{name}' takes image input .* \(700,\).*model=mlp"):
        create_model(name, input_shape=(700,), num_classes=20)


def test_cnn_layers_and_parameter_count() -> None:
    """cnn on 1×28×28 with channels (16, 32), hidden 128, BN: the layer list and its parameters, by hand."""
    net = create_model("cnn", input_shape=(1, 28, 28), num_classes=10, norm=registry.build("norm", "bn"))
    convs = [(m.in_channels, m.out_channels, m.kernel_size) for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs == [(1, 16, (3, 3)), (16, 32, (3, 3))]
    # convs without bias, BN affine 2 per channel, FC 32·7·7 → 128 → 10 with bias
    expected = 1 * 16 * 9 + 2 * 16 + 16 * 32 * 9 + 2 * 32 + 32 * 7 * 7 * 128 + 128 + 2 * 128 + 128 * 10 + 10
    assert sum(p.numel() for p in net.parameters()) == expected

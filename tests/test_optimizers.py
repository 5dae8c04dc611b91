"""The ``optim`` group is timm's ``create_optimizer_v2``: ``filter_bias_and_bn`` gives norms, biases and other 1-D
parameters a group without weight decay; LAMB and AdamW build and step; the recipes keep their optimizers."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from hydra import compose, initialize_config_dir
from timm.optim import Lamb
from torch import nn

from snnlab.conf import CONFIG_DIR
from snnlab.instantiate import instantiate
from snnlab.training.module.optimizers import TimmOptimizer, build_optimizer
from snnlab.training.run.build import build_model

SMALL = ["model.channels=[4,8]", "model.hidden=16", "neuron=plif"]  # the cnn: conv-bn-plif ×2, fc-bn-plif, fc


def small_net() -> nn.Module:
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return build_model(compose("train", overrides=SMALL), (1, 28, 28), 10)


def config_optimizer(net: nn.Module, overrides: list[str]) -> torch.optim.Optimizer:
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return build_optimizer(instantiate(compose("train", overrides=overrides).optim), net)


def group_names(net: nn.Module, optimizer: torch.optim.Optimizer) -> list[tuple[float, set[str]]]:
    names = {id(p): n for n, p in net.named_parameters()}
    return [(g["weight_decay"], {names[id(p)] for p in g["params"]}) for g in optimizer.param_groups]


def test_no_weight_decay_group_holds_norms_biases_and_scalars() -> None:
    net = small_net()
    groups = group_names(net, TimmOptimizer("adamw", lr=1e-3, weight_decay=0.05)(net))
    no_decay = {"0.1.bn.weight", "0.1.bn.bias", "2.1.bn.weight", "2.1.bn.bias", "6.bn.weight", "6.bn.bias"}
    no_decay |= {"5.bias", "10.bias"} | {"0.2.w", "2.2.w", "7.w"}  # the linear biases; PLIF's scalar time constants
    assert groups == [(0.0, no_decay), (0.05, {"0.0.weight", "2.0.weight", "5.weight", "10.weight"})]


def test_without_the_filter_every_parameter_decays() -> None:
    net = small_net()
    groups = group_names(net, TimmOptimizer("adamw", lr=1e-3, weight_decay=0.05, filter_bias_and_bn=False)(net))
    assert groups == [(0.05, {n for n, _ in net.named_parameters()})]


@pytest.mark.parametrize(("option", "kind"), [("lamb", Lamb), ("adamw_timm", torch.optim.AdamW)])
def test_lamb_and_adamw_build_and_step(option: str, kind: type) -> None:
    net = small_net()
    optimizer = config_optimizer(net, [*SMALL, f"optim={option}"])
    assert type(optimizer) is kind
    assert [g["weight_decay"] > 0 for g in optimizer.param_groups] == [False, True]  # norms, biases: no decay
    before = [p.detach().clone() for p in net.parameters()]
    net(torch.rand(4, 2, 1, 28, 28)).sum().backward()  # [T, B, C, H, W]
    optimizer.step()
    assert all(torch.isfinite(p).all() for p in net.parameters())
    assert not torch.equal(before[0], next(net.parameters()))


@pytest.mark.parametrize(
    ("overrides", "nesterov"),
    [
        (["optim=sgd"], True),
        (["optim=sgd", "optim.opt=momentum"], False),
        (["experiment=tebn_resnet19_cifar10"], False),  # a recipe that sets nesterov: false
    ],
)
def test_sgd_keeps_the_recipes_momentum(overrides: list[str], nesterov: bool) -> None:
    optimizer = config_optimizer(nn.Linear(2, 2), overrides)
    assert type(optimizer) is torch.optim.SGD and optimizer.defaults["nesterov"] is nesterov
    assert optimizer.defaults["momentum"] == 0.9 and len(optimizer.param_groups) == 1  # every parameter decays


def test_a_torch_optimizer_class_gets_the_parameters() -> None:
    net = nn.Linear(2, 2)
    optimizer = build_optimizer(partial(torch.optim.SGD, lr=0.1), net)  # optim._target_=torch.optim.SGD, _partial_
    assert optimizer.param_groups[0]["params"] == list(net.parameters())

"""The config mechanism ties every error to the key of the node that raised it, by structure."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from snnlab import validate
from snnlab.instantiate import CONFIG_NODE, ConfigError, instantiate, runtime_error, traced
from snnlab.validate import InvalidArgument


class Widths:
    """A test target that checks its arguments with the validator."""

    def __init__(self, hidden: list[int], scale: float = 1.0) -> None:
        self.hidden = validate.positive_ints(hidden, "hidden", "widths")
        self.scale = validate.positive(scale, "scale", "widths")


class Layers:
    """A factory object whose method builds modules (as a norm factory does)."""

    def __init__(self, k: float = 0.5) -> None:
        self.k = k

    def make(self, n: int) -> nn.Module:
        if n < 0:
            raise ValueError("n must be >= 0")
        return nn.Sequential(Explode(self.k))


class Explode(nn.Module):
    def __init__(self, k: float) -> None:
        super().__init__()
        self.k = k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise InvalidArgument("k", self.k, "fails at run time")


def node(**items: object) -> object:
    return OmegaConf.create({"T": 0, "group": items}).group


def test_invalid_argument_names_the_key_and_value() -> None:
    with pytest.raises(ConfigError, match=r"^group.hidden=\[4, 0\]: must be a list of integers >= 1"):
        instantiate(node(_target_=f"{__name__}.Widths", hidden=[4, 0]))


def test_interpolated_value_names_its_source_key() -> None:
    with pytest.raises(ConfigError, match=r"^T=0 \(as group.scale\): must be a real number > 0"):
        instantiate(node(_target_=f"{__name__}.Widths", hidden=[1], scale="${T}"))


def test_other_errors_name_the_node_and_target() -> None:
    built = traced(node(_target_=f"{__name__}.Layers"), Layers())
    with pytest.raises(ConfigError, match=rf"^group \({__name__}.Layers\): n must be >= 0"):
        built.make(-1)


def test_partial_factory_errors_name_the_node_when_called() -> None:
    factory = instantiate(node(_target_=f"{__name__}.Widths", _partial_=True, scale=-1))
    with pytest.raises(ConfigError, match=r"^group.scale=-1: must be a real number > 0"):
        factory(hidden=[2])
    assert factory(hidden=[2], scale=1.0).hidden == [2]  # the factory stays usable after an error


def test_nested_node_of_a_kind_is_built_and_named() -> None:
    neuron = instantiate(node(_target_="lif", _partial_=True, surrogate={"_target_": "atan", "alpha": 3.0}), "neuron")
    assert neuron().surrogate.alpha == 3.0
    with pytest.raises(ConfigError, match=r"^group.surrogate._target_='erf': unknown surrogate 'erf'; valid: .*atan"):
        instantiate(node(_target_="lif", _partial_=True, surrogate={"_target_": "erf"}), "neuron")


@pytest.mark.parametrize(
    ("value", "shown"),
    [("atan", r"\{_target_: atan\}"), ({"name": "atan", "alpha": 2.0}, r"\{_target_: atan, alpha: 2.0\}")],
)
def test_old_spellings_show_the_node_spelling(value: object, shown: str) -> None:
    with pytest.raises(ConfigError, match=rf"^group.surrogate=.*: a surrogate is chosen by a _target_ node: .*{shown}"):
        instantiate(node(_target_="lif", _partial_=True, surrogate=value), "neuron")


def test_unknown_key_lists_the_arguments() -> None:
    with pytest.raises(ConfigError, match=r"^group.depth=3: Widths takes no such argument \(it takes: hidden, scale\)"):
        instantiate(node(_target_=f"{__name__}.Widths", hidden=[1], depth=3))


def test_runtime_error_names_the_node_that_built_the_layer() -> None:
    cfg = OmegaConf.create({"norm": {"_target_": f"{__name__}.Layers", "k": 0.25}})
    layers = traced(cfg.norm, instantiate(cfg.norm))
    net = nn.Sequential(nn.Identity(), layers.make(1))
    assert net[1][0].__dict__[CONFIG_NODE] == "norm" and CONFIG_NODE not in net[0].__dict__
    with pytest.raises(InvalidArgument) as info:
        net(torch.zeros(1))
    assert str(runtime_error(cfg, info.value)) == "norm.k=0.25: fails at run time"
    assert runtime_error(cfg, RuntimeError("elsewhere")) is None

"""Surrogates: Heaviside forward with Θ(0) = 1; backward equals the derivative of each primitive."""

import math

import pytest
import torch

from snnlab import registry
from snnlab.instantiate import instantiate
from snnlab.math.surrogate import ATan, Rectangular, Sigmoid, Triangle, get_surrogate
from snnlab.validate import InvalidArgument

X = torch.linspace(-2.5, 2.5, 101, dtype=torch.float64)


def _autograd_derivative(primitive, x: torch.Tensor) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    primitive(x).sum().backward()
    return x.grad


def _pq_primitive(x: torch.Tensor, a: float) -> torch.Tensor:
    mid = -0.5 * a * a * x * x.abs() + a * x + 0.5
    return torch.where(x < -1 / a, torch.zeros_like(x), torch.where(x > 1 / a, torch.ones_like(x), mid))


PRIMITIVES = {
    "sigmoid": (lambda x: torch.sigmoid(4.0 * x), {}),
    "atan": (lambda x: torch.atan(math.pi / 2 * 3.0 * x) / math.pi + 0.5, {"alpha": 3.0}),
    "piecewise_quadratic": (lambda x: _pq_primitive(x, 0.8), {"alpha": 0.8}),
    "fast_sigmoid": (lambda x: 0.5 * x / (1 + 2.0 * x.abs()) * 2 + 0.5, {"alpha": 2.0}),
}


@pytest.mark.parametrize("name", registry.names("surrogate"))
def test_forward_is_heaviside_with_theta0_equal_1(name: str) -> None:
    out = registry.build("surrogate", name)(torch.tensor([-1.0, -1e-7, 0.0, 1e-7, 2.0]))
    assert out.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("name", sorted(PRIMITIVES))
def test_backward_matches_derivative_of_primitive(name: str) -> None:
    primitive, params = PRIMITIVES[name]
    sg = registry.build("surrogate", name, **params)
    x = X.clone().requires_grad_(True)
    sg(x).sum().backward()
    torch.testing.assert_close(x.grad, _autograd_derivative(primitive, X))


def test_piecewise_surrogates_by_hand() -> None:
    tri = Triangle(alpha=0.3)
    rect = Rectangular(alpha=0.5)
    x = torch.tensor([-1.5, -0.5, 0.0, 0.2, 0.25, 0.3, 1.0])
    torch.testing.assert_close(tri.grad(x), 0.3 * torch.tensor([0.0, 0.5, 1.0, 0.8, 0.75, 0.7, 0.0]))
    torch.testing.assert_close(rect.grad(x), torch.tensor([0.0, 0.0, 2.0, 2.0, 2.0, 0.0, 0.0]))


def test_config_node_builds_the_surrogate_and_none_is_the_default() -> None:
    assert instantiate({"_target_": "atan", "alpha": 2.0}, kind="surrogate") == ATan(alpha=2.0)
    assert get_surrogate(None) == Sigmoid(alpha=4.0) and ATan().alpha == 2.0
    sg = Triangle()
    assert get_surrogate(sg) is sg


@pytest.mark.parametrize(
    ("old", "shown"),
    [
        ("atan", r"surrogate=ATan\(alpha=2.0\) in Python, surrogate: \{_target_: atan, alpha: 2.0\} in a config"),
        ({"name": "triangle", "alpha": 0.5}, r"surrogate=Triangle\(alpha=0.5\) .* \{_target_: triangle, alpha: 0.5\}"),
        ("erf", r"surrogate='erf': .*e.g. surrogate=ATan\(alpha=2.0\) .*\(surrogates: atan, .*sigmoid"),
    ],
)
def test_a_name_or_mapping_shows_the_new_spelling(old: object, shown: str) -> None:
    with pytest.raises(TypeError, match=shown):
        get_surrogate(old)


def test_bad_params_name_their_argument() -> None:
    with pytest.raises(TypeError, match=r"unknown parameter.*'beta'.*valid: \['alpha'\]"):
        Sigmoid(beta=1.0)
    with pytest.raises(InvalidArgument, match=r"atan: alpha=-1.0: must be a real number > 0") as error:
        ATan(alpha=-1.0)
    assert error.value.argument == "alpha"
    with pytest.raises(ValueError, match=r"surrogate.alpha=0: must be a real number > 0"):
        instantiate({"_target_": "atan", "alpha": 0}, kind="surrogate")


@pytest.mark.parametrize("old", ["atan", {"name": "atan", "alpha": 2.0}])
def test_old_config_spellings_show_the_node(old: object) -> None:
    with pytest.raises(ValueError, match=r"neuron.surrogate=.*neuron.surrogate=\{_target_: atan"):
        instantiate({"_target_": "lif", "surrogate": old}, kind="neuron")
    neuron = instantiate({"_target_": "lif", "surrogate": {"_target_": "atan", "alpha": 3.0}}, kind="neuron")
    assert neuron.surrogate == ATan(alpha=3.0)

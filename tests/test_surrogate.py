"""Surrogates: Heaviside forward with Θ(0) = 1; backward equals the derivative of each primitive."""

import math

import pytest
import torch

from snnlab import registry
from snnlab.math.surrogate import get_surrogate

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
    out = get_surrogate(name)(torch.tensor([-1.0, -1e-7, 0.0, 1e-7, 2.0]))
    assert out.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("name", sorted(PRIMITIVES))
def test_backward_matches_derivative_of_primitive(name: str) -> None:
    primitive, params = PRIMITIVES[name]
    sg = get_surrogate(name, **params)
    x = X.clone().requires_grad_(True)
    sg(x).sum().backward()
    torch.testing.assert_close(x.grad, _autograd_derivative(primitive, X))


def test_piecewise_surrogates_by_hand() -> None:
    tri = get_surrogate("triangle", alpha=0.3)
    rect = get_surrogate("rectangular", alpha=0.5)
    x = torch.tensor([-1.5, -0.5, 0.0, 0.2, 0.25, 0.3, 1.0])
    torch.testing.assert_close(tri.grad(x), 0.3 * torch.tensor([0.0, 0.5, 1.0, 0.8, 0.75, 0.7, 0.0]))
    torch.testing.assert_close(rect.grad(x), torch.tensor([0.0, 0.0, 2.0, 2.0, 2.0, 0.0, 0.0]))


def test_construct_by_name_and_config_mapping() -> None:
    assert get_surrogate("atan", alpha=2.0) == get_surrogate({"name": "atan", "alpha": 2.0})
    assert get_surrogate(None) == get_surrogate("sigmoid", alpha=4.0)
    assert get_surrogate("atan").alpha == 2.0


def test_bad_names_and_params_raise_with_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown surrogate 'erf'; valid: atan, .*sigmoid"):
        get_surrogate("erf")
    with pytest.raises(TypeError, match=r"unknown parameter.*'beta'.*valid: \['alpha'\]"):
        get_surrogate("sigmoid", beta=1.0)
    with pytest.raises(ValueError, match="alpha must be > 0"):
        get_surrogate("atan", alpha=-1.0)

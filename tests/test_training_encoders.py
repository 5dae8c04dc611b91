"""Encoders: ``[B, ...]`` → ``[T, B, ...]`` with the coding each promises."""

from __future__ import annotations

import pytest
import torch

from snnlab import registry


def create_encoder(name: str, T: int) -> torch.nn.Module:
    return registry.build("encoder", name, T=T)


@pytest.mark.parametrize("name", registry.names("encoder"))
def test_shape(name: str) -> None:
    x = torch.rand(3, 1, 5, 5)
    assert create_encoder(name, 4)(x).shape == (4, 3, 1, 5, 5)


def test_direct_repeats() -> None:
    x = torch.rand(2, 7)
    assert torch.equal(create_encoder("direct", 3)(x), x.expand(3, 2, 7))


def test_poisson_rate_matches_intensity() -> None:
    torch.manual_seed(0)
    x = torch.tensor([0.0, 0.25, 0.75, 1.0]).expand(2000, 4)
    s = create_encoder("poisson", 8)(x)
    assert set(s.unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(s.mean((0, 1)), x[0], atol=0.02, rtol=0)


def test_latency_one_spike_brighter_first() -> None:
    x = torch.tensor([[0.0, 0.2, 0.6, 1.0]])
    s = create_encoder("latency", 5)(x)
    assert s.sum(0).tolist() == [[0.0, 1.0, 1.0, 1.0]]
    first = s.argmax(0)[0, 1:].tolist()
    assert first == sorted(first, reverse=True) and first[-1] == 0


def test_unknown_and_bad_t() -> None:
    with pytest.raises(ValueError, match=r"unknown encoder 'rank'; valid: direct, latency, poisson"):
        create_encoder("rank", 4)
    with pytest.raises(ValueError, match="T must be a positive integer"):
        create_encoder("direct", 0)

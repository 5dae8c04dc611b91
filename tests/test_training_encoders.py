"""Encoders: ``[B, ...]`` → ``[T, B, ...]`` with the coding each promises."""

from __future__ import annotations

import pytest
import torch

from snnlab import registry
from snnlab.data.digits import Digits


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
    with pytest.raises(ValueError, match=r"DirectEncoder: T=0: must be an integer >= 1"):
        create_encoder("direct", 0)


CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


def cifar_like(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw intensities ``[n, 3, 2, 2]`` on a grid over [0, 1] and their CIFAR normalisation."""
    raw = torch.linspace(0.0, 1.0, 12).view(1, 3, 2, 2).expand(n, -1, -1, -1)
    mean, std = torch.tensor(CIFAR_MEAN).view(3, 1, 1), torch.tensor(CIFAR_STD).view(3, 1, 1)
    return raw, (raw - mean) / std


def test_poisson_rates_equal_intensities_of_normalised_images() -> None:
    torch.manual_seed(0)
    raw, x = cifar_like(4000)
    assert (x < 0).float().mean() > 0.4  # clipping the normalised image would silence these pixels
    s = registry.build("encoder", "poisson", T=4, mean=CIFAR_MEAN, std=CIFAR_STD)(x)
    assert set(s.unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(s.mean((0, 1)), raw[0], atol=0.02, rtol=0)


def test_signed_poisson_codes_the_input_as_given() -> None:
    torch.manual_seed(0)
    x = torch.tensor([-3.0, -1.0, -0.5, 0.0, 0.4, 1.2]).expand(5000, 6)
    s = registry.build("encoder", "poisson", T=4, signed=True, rescale=2.0, mean=CIFAR_MEAN, std=CIFAR_STD)(x)
    assert set(s.unique().tolist()) <= {-1.0, 0.0, 1.0}
    assert ((s * x.sign()) >= 0).all()  # spikes carry the sign of the pixel
    torch.testing.assert_close(s.abs().mean((0, 1)), (x[0].abs() / 2).clamp(max=1), atol=0.02, rtol=0)


def test_latency_undoes_the_normalisation() -> None:
    raw, x = cifar_like(1)
    s = registry.build("encoder", "latency", T=12, mean=CIFAR_MEAN, std=CIFAR_STD)(x)
    torch.testing.assert_close(s, create_encoder("latency", 12)(raw))


def test_mean_and_std_come_together() -> None:
    with pytest.raises(ValueError, match="give both mean and std, or neither"):
        registry.build("encoder", "poisson", T=2, mean=CIFAR_MEAN)


@pytest.mark.parametrize("channels", [None, 3])
def test_standardised_digits_report_their_statistics_and_the_encoder_undoes_them(channels: int | None) -> None:
    unit, standard = Digits(channels=channels), Digits(normalize="standard", channels=channels)
    assert unit.mean is None and unit.std is None  # [0, 1] intensities: nothing to undo
    assert len(standard.mean) == len(standard.std) == (channels or 1)
    unit.setup()
    standard.setup()
    (raw, _), (x, _) = unit.test_set[:8], standard.test_set[:8]
    assert x.min() < 0 and abs(x.mean()) < abs(raw.mean())  # standardised
    encoder = registry.build("encoder", "poisson", T=12, mean=standard.mean, std=standard.std)
    torch.testing.assert_close(encoder.intensity(x), raw)  # what poisson and latency coding read

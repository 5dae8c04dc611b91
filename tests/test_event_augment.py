"""The Spikformer/QKFormer event-frame augmentation: a flip, then one op per sample, alike for all its frames."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import torch
from fake_datasets import forbid_network, write_nmnist
from torchvision import transforms as T

from snnlab.data.event_augment import SNNAugmentWide
from snnlab.data.events import NMNISTDataModule


def copies(T_: int = 4, size: int = 48) -> torch.Tensor:
    """``T_`` identical random ``[2, size, size]`` count frames."""
    return torch.randint(0, 3, (1, 2, size, size)).float().repeat(T_, 1, 1, 1)


@pytest.mark.parametrize("op", SNNAugmentWide.ops)
def test_each_op_is_the_same_for_all_frames_of_a_sample(op: str) -> None:
    torch.manual_seed(0)
    frames = copies()
    changed = 0
    for _ in range(20):
        out = SNNAugmentWide().apply_op(frames, op)
        assert out.shape == frames.shape and all(torch.equal(out[0], out[t]) for t in range(1, len(out)))
        changed += not torch.equal(out, frames)
    assert changed == 0 if op == "identity" else changed >= 15  # a zero magnitude (1 in 31) changes nothing


def test_one_op_is_drawn_uniformly_per_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn: Counter[str] = Counter()
    monkeypatch.setattr(SNNAugmentWide, "apply_op", lambda self, frames, op: drawn.update([op]) or frames)
    torch.manual_seed(0)
    aug = SNNAugmentWide()
    for _ in range(600):
        aug(copies(2, 8))
    assert set(drawn) == set(SNNAugmentWide.ops) and min(drawn.values()) > 60  # 100 each expected


def test_translation_moves_by_whole_pixels_up_to_5_and_cutout_is_a_small_square() -> None:
    torch.manual_seed(0)
    dot = torch.zeros(3, 2, 48, 48)
    dot[:, :, 24, 24] = 1.0
    for op, axis in (("translate_x", -1), ("translate_y", -2)):
        shifts = set()
        for _ in range(100):
            out = SNNAugmentWide().apply_op(dot, op)
            (y, x) = out[0, 0].nonzero()[0].tolist()
            assert out.sum() == dot.sum() and (y == 24 if axis == -1 else x == 24)
            shifts.add((x if axis == -1 else y) - 24)
        assert shifts == set(range(-5, 6))
    ones = torch.ones(3, 2, 48, 48)
    for _ in range(50):
        out = SNNAugmentWide().apply_op(ones, "cutout")
        zeros = (out == 0).all(dim=(0, 1))
        assert torch.equal(zeros, (out == 0).any(dim=(0, 1)))  # the same box in every frame and channel
        side = zeros.any(dim=1).sum()
        assert zeros.any(dim=0).sum() == side and zeros.sum() == side**2 and 1 <= side**2 <= 0.11 * 48 * 48 * 1.2


def test_spikformer_augment_flips_and_draws_per_sample_on_training_frames_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forbid_network(monkeypatch)
    write_nmnist(tmp_path, per_class=2, n_events=200)
    dm = NMNISTDataModule(str(tmp_path), T=3, val_fraction=0.25, cache=False, augment="spikformer")
    plain = NMNISTDataModule(str(tmp_path), T=3, val_fraction=0.25, cache=False)
    dm.setup()
    plain.setup()
    transform = dm.train_set.transform
    assert [type(t) for t in transform.transforms] == [T.RandomHorizontalFlip, SNNAugmentWide]
    for a, b in ((dm.val_set, plain.val_set), (dm.test_set, plain.test_set)):
        assert all(torch.equal(a[i][0], b[i][0]) for i in range(len(b)))
    torch.manual_seed(0)
    frames = copies(3, 34)
    outs = [transform(frames) for _ in range(200)]  # 200 samples with the same frames: independent draws
    assert all(all(torch.equal(o[0], o[t]) for t in range(3)) for o in outs)  # copies stay copies
    assert len({tuple(o.flatten().tolist()) for o in outs}) > 100
    monkeypatch.setattr(SNNAugmentWide, "forward", lambda self, x: x)  # the flip alone
    flipped = [torch.equal(transform(frames), frames.flip(-1)) for _ in range(400)]
    assert 140 <= sum(flipped) <= 260  # p = 0.5 per sample (binomial, ±6 standard deviations)

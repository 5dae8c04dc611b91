"""Mixup/CutMix through timm (``augment.mixup``): pairs, soft targets, one CutMix box per event sample, soft-target
losses, training accuracy on hard labels, ``off_epoch``, and short runs with mixing on."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from fake_datasets import forbid_network, write_nmnist
from torch import nn
from training_helpers import compose_run

from snnlab.training import build, run_training
from snnlab.training.module.classifier import SNNClassifier
from snnlab.training.module.losses import MSE, TET, CrossEntropy
from snnlab.training.module.mixup import MixUp, hard_labels
from snnlab.training.module.readouts import Mean

MODES = ["batch", "pair", "elem"]


@pytest.fixture(autouse=True)
def _seeded() -> None:
    np.random.seed(0)  # timm draws λ, the modes and the boxes from numpy's global generator


def distinct(batch: int) -> torch.Tensor:
    """``[B, 1, 2, 3]`` static samples (B <= 6), sample ``i`` the one-hot vector ``e_i``."""
    return torch.eye(batch, 6).reshape(batch, 1, 2, 3)


@pytest.mark.parametrize("mode", MODES)
def test_mixup_pairs_i_with_b_minus_1_minus_i_and_targets_sum_to_one(mode: str) -> None:
    x, y = distinct(6), torch.arange(6)
    mixed, soft = MixUp(num_classes=6, alpha=0.5, prob=1.0, mode=mode)(x, y)
    assert mixed.shape == x.shape and soft.shape == (6, 6)
    assert torch.equal(x, distinct(6))  # the input batch is left as it was
    assert torch.allclose(soft.sum(-1), torch.ones(6))
    flat = mixed.flatten(1)  # row i: λ_i·e_i + (1 - λ_i)·e_{5-i}; the labels are the sample indices
    for i in range(6):
        assert set(flat[i].nonzero().flatten().tolist()) <= {i, 5 - i}
    assert torch.allclose(soft, flat)  # each target mixes the labels of the pair its input mixes, with its λ
    assert (soft.diagonal() < 1).any()  # something was mixed


def test_label_smoothing_inside_the_mixed_targets() -> None:
    x, y = distinct(6), torch.arange(6)
    mixed, soft = MixUp(num_classes=6, alpha=0.5, label_smoothing=0.1)(x, y)
    assert torch.allclose(soft, 0.9 * mixed.flatten(1) + 0.1 / 6)
    _, smooth = MixUp(num_classes=6, label_smoothing=0.1)(x, y)  # no mixing: smoothed one-hot targets
    assert torch.allclose(smooth, 0.9 * torch.eye(6) + 0.1 / 6)


def test_an_odd_batch_mixes_all_but_its_last_sample() -> None:
    x, y = distinct(5), torch.arange(5)
    mixed, soft = MixUp(num_classes=5, alpha=0.5)(x, y)
    flat = mixed.flatten(1)[:, :5]
    assert torch.equal(mixed[4], x[4]) and torch.equal(soft[4], F.one_hot(y[4], 5).float())
    for i in range(4):  # the first four as an even batch: i with 3 - i
        assert set(flat[i].nonzero().flatten().tolist()) <= {i, 3 - i}
    assert torch.allclose(soft, flat)


def event_batch(steps: int = 3, batch: int = 4, size: int = 6) -> torch.Tensor:
    """``[T, B, 1, H, W]`` frames, frame ``t`` of sample ``b`` filled with the distinct value ``10·b + t + 1``."""
    values = 10 * torch.arange(batch)[None, :] + torch.arange(steps)[:, None] + 1.0
    return values[..., None, None, None].expand(steps, batch, 1, size, size).clone()


@pytest.mark.parametrize("mode", MODES)
def test_cutmix_pastes_the_same_box_on_every_frame_of_an_event_sample(mode: str) -> None:
    x, y = event_batch(), torch.arange(4)
    mixed, soft = MixUp(num_classes=4, cutmix_alpha=1.0, mode=mode)(x, y, time_first=True)
    assert mixed.shape == x.shape and mixed.is_contiguous()
    pasted = False
    for b in range(4):
        boxes = mixed[:, b, 0] != x[:, b, 0]  # [T, H, W]: where frame t of sample b was replaced
        assert (boxes == boxes[0]).all()  # one box for all T frames
        assert torch.equal(mixed[:, b, 0][boxes], x[:, 3 - b, 0][boxes])  # from the partner's frame at the same t
        rows, cols = boxes[0].any(1).nonzero().flatten(), boxes[0].any(0).nonzero().flatten()
        area = len(rows) * len(cols)
        assert boxes[0].sum() == area  # a rectangle
        assert soft[b, b].item() == pytest.approx(1 - area / 36) and soft[b].sum().item() == pytest.approx(1.0)
        pasted |= area > 0
    assert pasted


def test_mixup_of_event_frames_uses_one_lambda_per_sample() -> None:
    x, y = event_batch(), torch.arange(4)
    mixed, soft = MixUp(num_classes=4, alpha=0.5, mode="elem")(x, y, time_first=True)
    own = soft.diagonal()  # λ_b, the weight of sample b's own label
    expected = own[None, :, None, None, None] * x + (1 - own)[None, :, None, None, None] * x.flip(1)
    assert torch.allclose(mixed, expected)


def test_off_epoch_switches_mixing_off_from_that_epoch() -> None:
    mixup, x, y = MixUp(num_classes=6, alpha=0.5, label_smoothing=0.1, off_epoch=2), distinct(6), torch.arange(6)
    for epoch in (0, 1):
        assert not torch.equal(mixup(x, y, epoch=epoch)[0], x)
    for epoch in (2, 3):
        mixed, soft = mixup(x, y, epoch=epoch)
        assert torch.equal(mixed, x) and torch.allclose(soft, 0.9 * torch.eye(6) + 0.1 / 6)  # smoothing stays


def test_soft_target_losses_by_hand() -> None:
    torch.manual_seed(0)
    scores, soft = torch.randn(2, 3, 4), torch.softmax(torch.randn(3, 4), -1)  # [T, B, K], [B, K]
    mean = scores.mean(0)
    ce = (-soft * torch.log_softmax(mean, -1)).sum(-1).mean()  # timm's SoftTargetCrossEntropy
    assert CrossEntropy()(scores, soft, Mean()).item() == pytest.approx(ce.item())
    assert MSE()(scores, soft, Mean()).item() == pytest.approx(((mean - soft) ** 2).mean().item())
    per_step = [(-soft * torch.log_softmax(s, -1)).sum(-1).mean() for s in scores]
    tet = 0.75 * sum(per_step) / 2 + 0.25 * ((scores - 1.0) ** 2).mean()
    assert TET(lamb=0.25)(scores, soft, Mean()).item() == pytest.approx(tet.item())
    labels = torch.tensor([0, 3, 1])  # one-hot soft targets give the loss of the labels
    for loss in (CrossEntropy(), MSE(), TET()):
        hard, one_hot = loss(scores, labels, Mean()), loss(scores, F.one_hot(labels, 4).float(), Mean())
        assert hard.item() == pytest.approx(one_hot.item())
    assert math.isfinite(CrossEntropy()(scores.bfloat16(), soft, Mean()).item())  # targets follow the scores' dtype


def test_training_accuracy_counts_the_label_of_larger_weight() -> None:
    module = SNNClassifier(net=nn.Identity(), encoder=None, num_classes=4, optimizer=torch.optim.SGD)
    soft = torch.tensor([[0.7, 0.3, 0.0, 0.0], [0.0, 0.0, 0.4, 0.6]])
    assert hard_labels(soft).tolist() == [0, 3] and hard_labels(torch.tensor([2, 1])).tolist() == [2, 1]
    scores = torch.tensor([[[5.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 5.0]]])  # [T=1, B=2, K]: predicts 0 and 3
    with pytest.warns(UserWarning, match="not registered"):  # self.log without a Trainer
        module._step((scores, soft), "train")
    assert module.acc["train_acc"].compute().item() == 1.0


def test_config_switches_mixup_on(tmp_path: Path) -> None:
    assert build(compose_run(tmp_path))[1].mixup is None  # off by default: training batches as they come
    cfg = compose_run(tmp_path, ["augment.mixup.alpha=0.5", "augment.mixup.off_epoch=3", "trainer.max_epochs=4"])
    mixup = build(cfg)[1].mixup
    assert isinstance(mixup, MixUp) and (mixup.alpha, mixup.off_epoch, mixup.num_classes) == (0.5, 3, 10)
    assert build(compose_run(tmp_path, ["augment.mixup.label_smoothing=0.1"]))[1].mixup is not None


def test_off_epoch_may_fall_in_the_cooldown(tmp_path: Path) -> None:
    """The run trains max_epochs + cooldown_epochs (timm): an off_epoch in the cooldown is reached."""
    cooldown = ["scheduler=warmup_cosine", "scheduler.cooldown_epochs=3", "trainer.max_epochs=2"]
    cfg = compose_run(tmp_path, [*cooldown, "augment.mixup.alpha=0.5", "augment.mixup.off_epoch=4"])
    assert build(cfg)[1].mixup.off_epoch == 4
    with pytest.raises(ValueError, match=r"^augment.mixup.off_epoch=5: past the run's epochs 0..4 \(it trains 5\)"):
        build(compose_run(tmp_path, [*cooldown, "augment.mixup.alpha=0.5", "augment.mixup.off_epoch=5"]))


SLOW = pytest.mark.slow


@pytest.fixture
def mixed_batches(monkeypatch: pytest.MonkeyPatch) -> list[tuple[tuple[int, ...], bool]]:
    """``(input shape, time_first)`` of every batch the runs mix."""
    calls, mix = [], MixUp.__call__

    def spy(self: MixUp, x: torch.Tensor, *args: object, **kwargs: object) -> tuple[torch.Tensor, torch.Tensor]:
        calls.append((tuple(x.shape), kwargs["time_first"]))
        return mix(self, x, *args, **kwargs)

    monkeypatch.setattr(MixUp, "__call__", spy)
    return calls


@pytest.mark.parametrize(
    "options",
    [
        pytest.param(["augment.mixup.alpha=0.5"], id="mixup"),
        pytest.param(
            ["augment.mixup.cutmix_alpha=1.0", "augment.mixup.mode=elem", "classifier.loss={_target_: tet}"],
            marks=SLOW,
            id="cutmix-tet",
        ),
        pytest.param(
            ["learning=ottt", "neuron=ottt_lif", "norm=none", "augment.mixup.alpha=0.5", "augment.mixup.mode=pair"],
            marks=SLOW,
            id="ottt",
        ),
    ],
)
def test_one_batch_run_with_mixing(tmp_path: Path, options: list[str], mixed_batches: list) -> None:
    acc = run_training(compose_run(tmp_path, ["debug=fdr", "optimized_metric=test/acc", *options]))
    assert 0.0 <= acc <= 1.0
    assert mixed_batches == [((16, 1, 8, 8), False)]  # the one training batch, static: mixed before encoding


@SLOW
def test_one_batch_event_run_with_cutmix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mixed_batches: list) -> None:
    forbid_network(monkeypatch)
    write_nmnist(tmp_path / "data", per_class=2)
    events = ["data=nmnist", f"paths.data_dir={tmp_path / 'data'}", "data.cache=false", "data.num_workers=0"]
    mixing = ["augment.mixup.alpha=0.8", "augment.mixup.cutmix_alpha=1.0", "augment.mixup.label_smoothing=0.1"]
    acc = run_training(compose_run(tmp_path / "run", [*events, *mixing, "debug=fdr", "optimized_metric=test/acc"]))
    assert 0.0 <= acc <= 1.0
    assert mixed_batches == [((2, 16, 2, 34, 34), True)]  # time-first frames [T, B, ...]

"""timm's image augmentations in the image data modules: RandAugment op sets, colour jitter, RandomErasing, their
order and checks, and the transforms ``snnlab inspect`` lists."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from fake_datasets import forbid_network, skip_cifar_md5, write_cifar
from PIL import Image
from timm.data.auto_augment import AugmentOp, RandAugment, rand_augment_transform
from timm.data.transforms import RandomResizedCropAndInterpolation
from torchvision import transforms as T

from snnlab.conf import CONFIG_DIR
from snnlab.data.augment import Cutout
from snnlab.data.imagenet import ImageNetDataModule
from snnlab.data.timm_augment import OP_SETS, RandomErasing
from snnlab.data.vision import CIFAR10DataModule
from snnlab.training.tools.inspection import inspect_network
from snnlab.validate import InvalidArgument

SPIKFORMER_RA = "rand-m9-n1-mstd0.4-inc1"  # Spikformer's and QKFormer's CIFAR `aa`


def rand_augment(dm: CIFAR10DataModule | ImageNetDataModule) -> RandAugment:
    (ra,) = [t for t in dm.train_transform().transforms if isinstance(t, RandAugment)]
    return ra


def test_spikformer_op_set_samples_only_its_five_ops(monkeypatch: pytest.MonkeyPatch) -> None:
    ra = rand_augment(CIFAR10DataModule(randaugment=SPIKFORMER_RA, randaugment_ops="spikformer"))
    five = ["Equalize", "Rotate", "ShearX", "TranslateXRel", "TranslateYRel"]
    assert [op.name for op in ra.ops] == five and ra.num_layers == 1
    assert all(op.magnitude == 9 and op.magnitude_std == 0.4 for op in ra.ops)
    drawn: Counter[str] = Counter()
    timm_call = AugmentOp.__call__

    def record(op: AugmentOp, img: Image.Image) -> Image.Image:
        drawn[op.name] += 1
        return timm_call(op, img)

    monkeypatch.setattr(AugmentOp, "__call__", record)
    img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8))
    np.random.seed(0)
    for _ in range(500):
        ra(img)
    assert set(drawn) == set(five) and min(drawn.values()) > 50  # 100 each expected


@pytest.mark.parametrize("config", [SPIKFORMER_RA, "rand-m9-n2-mstd0.5", "rand"])
def test_full_op_set_is_timms(config: str) -> None:
    ra = rand_augment(CIFAR10DataModule(randaugment=config))
    assert OP_SETS["full"] is None
    assert [op.name for op in ra.ops] == [op.name for op in rand_augment_transform(config, {}).ops]


def test_randaugment_takes_timms_hyperparameters_for_the_image() -> None:
    dm = CIFAR10DataModule(randaugment=SPIKFORMER_RA, interpolation="bicubic")
    op = rand_augment(dm).ops[0]
    assert op.hparams["translate_const"] == 14  # 45 % of 32, as timm's transforms_factory
    assert op.kwargs["fillcolor"] == (125, 123, 114)  # the CIFAR-10 mean colour
    assert op.kwargs["resample"] == Image.BICUBIC
    assert isinstance(rand_augment(CIFAR10DataModule(randaugment="rand")).ops[0].kwargs["resample"], tuple)  # random


def test_training_order_is_timms() -> None:
    full = CIFAR10DataModule(randaugment=SPIKFORMER_RA, random_erasing={"p": 0.25}, cutout=8)
    kinds = [type(t) for t in full.train_transform().transforms]
    assert kinds == [T.RandomCrop, T.RandomHorizontalFlip, RandAugment, T.ToTensor, T.Normalize, Cutout, RandomErasing]
    jitter = CIFAR10DataModule(augment="flip", color_jitter=0.4).train_transform().transforms
    assert [type(t) for t in jitter] == [T.RandomHorizontalFlip, T.ColorJitter, T.ToTensor, T.Normalize]
    assert jitter[1].brightness == jitter[1].contrast == jitter[1].saturation == (0.6, 1.4) and jitter[1].hue is None
    no_jitter = CIFAR10DataModule(augment=None, color_jitter=0.0).train_transform().transforms
    assert [type(t) for t in no_jitter] == [T.ToTensor, T.Normalize]
    imagenet = ImageNetDataModule(randaugment=SPIKFORMER_RA, random_erasing={"p": 0.25}, interpolation="bicubic")
    steps = imagenet.train_transform().transforms
    assert [type(t) for t in steps] == [
        RandomResizedCropAndInterpolation,
        T.RandomHorizontalFlip,
        RandAugment,
        T.ToTensor,
        T.Normalize,
        RandomErasing,
    ]
    assert steps[0].interpolation == T.InterpolationMode.BICUBIC
    assert [type(t) for t in imagenet.eval_transform().transforms] == [T.Resize, T.CenterCrop, T.ToTensor, T.Normalize]


@pytest.mark.parametrize(
    "config", ["rand-x9", "rand-m9x", "rand-m9.5", "rand-m", "rand-", "rand-m9--n1", "foo-m9", "", "rand-tweights", 9]
)
def test_malformed_randaugment_string_is_refused_naming_the_key(config: object) -> None:
    with pytest.raises(InvalidArgument, match=r"randaugment=.*a timm RandAugment string is 'rand', then") as error:
        CIFAR10DataModule(randaugment=config)
    assert error.value.argument == "randaugment"


@pytest.mark.parametrize(
    ("options", "key", "message"),
    [
        ({"randaugment_ops": "foo"}, "randaugment_ops", r"valid: full, spikformer$"),
        ({"interpolation": "lanczos"}, "interpolation", r"valid: random, nearest, bilinear, bicubic$"),
        ({"color_jitter": "strong"}, "color_jitter", r"must be a real number >= 0$"),
        ({"color_jitter": 0.4, "randaugment": "rand"}, "color_jitter", r"timm applies no colour jitter while Rand"),
        ({"random_erasing": {"p": 0.2, "mode": "zeros"}}, "random_erasing", r"mode='zeros': valid: const, rand, pix"),
        ({"random_erasing": {"probability": 0.2}}, "random_erasing", r"unexpected keyword .*takes p, mode, min_area"),
        ({"random_erasing": {"max_count": 0}}, "random_erasing", r"max_count=0: must be an integer >= 1"),
        ({"random_erasing": {"min_area": 0.5, "max_area": 0.1}}, "random_erasing", r"max_area=0.1: must be in \[0.5,"),
    ],
)
def test_bad_timm_option_is_refused_naming_the_key(options: dict, key: str, message: str) -> None:
    for module in (CIFAR10DataModule, ImageNetDataModule):
        with pytest.raises(InvalidArgument, match=message) as error:
            module(**options)
        assert error.value.argument == key


def test_random_erasing_p1_const_erases_training_samples_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    forbid_network(monkeypatch)
    skip_cifar_md5(monkeypatch)
    write_cifar(tmp_path, n_per_file=4)
    dm = CIFAR10DataModule(str(tmp_path), augment=None, random_erasing={"p": 1.0, "mode": "const"}, val_fraction=0.25)
    plain = CIFAR10DataModule(str(tmp_path), augment=None, val_fraction=0.25)
    dm.setup()
    plain.setup()
    for i in range(len(dm.train_set)):
        x, y = dm.train_set[i]
        x0, y0 = plain.train_set[i]
        box = (x == 0).all(dim=0)  # const: zero in every channel; the normalised image itself has no exact zero
        assert y == y0 and (x0 != 0).all() and 0.02 * 32 * 32 / 2 <= box.sum() <= 32 * 32 / 3 * 1.5
        assert torch.equal(x[:, ~box], x0[:, ~box])
    for erased, clean in ((dm.val_set, plain.val_set), (dm.test_set, plain.test_set)):
        assert all(torch.equal(erased[i][0], clean[i][0]) for i in range(len(clean)))


def test_inspect_json_lists_the_transforms(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    base = ["model=mlp", "model.hidden=[8]", f"paths.data_dir={tmp_path}", "--json"]
    image = [
        "data=cifar10",
        "data.augment=flip",
        f"data.randaugment={SPIKFORMER_RA}",
        "data.randaugment_ops=spikformer",
    ]
    inspect_network([*image, "data.random_erasing={p: 0.25}", *base], CONFIG_DIR)
    transforms = json.loads(capsys.readouterr().out)["transforms"]
    train, evaluation = transforms["train"], transforms["eval"]
    assert train[0] == "RandomHorizontalFlip(p=0.5)" and train[1].startswith("RandAugment(n=1, ops= AugmentOp(name=Equ")
    assert train[2:4] == evaluation and train[4] == "RandomErasing(p=0.25, mode=const, count=(1, 1))"
    assert evaluation == ["ToTensor()", "Normalize(mean=(0.4914, 0.4822, 0.4465), std=(0.247, 0.2435, 0.2616))"]
    inspect_network(["data=nmnist", "data.augment=spikformer", "T=4", "data.T_train=2", *base], CONFIG_DIR)
    transforms = json.loads(capsys.readouterr().out)["transforms"]
    assert [line.split("(")[0] for line in transforms["train"]] == [
        "EventFrames",
        "RandomHorizontalFlip",
        "SNNAugmentWide",
        "TemporalCrop",
    ]
    assert [line.split("(")[0] for line in transforms["eval"]] == ["EventFrames"]
    assert not any(tmp_path.iterdir())  # no data file read, nothing written

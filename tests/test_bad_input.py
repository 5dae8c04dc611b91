"""Bad values stop a run before anything is written, fast, with a message that names the key, the value and what is
valid; on the command line without a traceback, with exit code 2 and no run folder left behind."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from fake_datasets import forbid_network, write_mnist, write_shd
from training_helpers import compose_run

from snnlab.training.run.lifecycle import prepare

ROOT = Path(__file__).resolve().parents[1]
TINY = ["trainer.max_epochs=1", "+trainer.limit_train_batches=2"]

NO_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="trainer=gpu is refused only where no GPU is visible")
MUST_BE_INT = r"must be an integer >= 1"

# (overrides, regex the message must match from its start: key=value, then what is valid)
CASES: list[Any] = [
    # root keys: each checked once, by what consumes it (T by the encoder, data or norm it is interpolated into)
    (["T=0"], rf"T=0 \(as encoder.T\): {MUST_BE_INT}"),
    (["T=-3"], rf"T=-3 \(as encoder.T\): {MUST_BE_INT}"),
    (["T=abc"], rf"T='abc' \(as encoder.T\): {MUST_BE_INT}"),
    (["T=0", "norm=tebn"], rf"T=0 \(as norm.T\): {MUST_BE_INT}"),
    (["T=0", "data=nmnist"], rf"T=0 \(as data.T\): {MUST_BE_INT}"),
    (
        ["T=1000000000"],  # a training batch that no machine holds: refused with the numbers, before the dry run
        r"T=1000000000, data.batch_size=16: one training batch needs at least [\d,.]+ GiB of activations for BPTT, "
        r"[\d,.]+ GiB are available; lower T or data.batch_size, or use learning=ottt$",
    ),
    (["seed=abc"], r"seed='abc': must be an integer >= 0"),
    (["seed=1.5"], r"seed=1.5: must be an integer >= 0"),
    (["step_mode=x"], r"step_mode='x': must be 'm' \(whole \[T, B, \.\.\.\] sequences\) or 's' \(step by step\)$"),
    (["backend=nope"], r"backend='nope': unknown neuron backend; valid: auto, cpu, cupy, torch"),
    (["backend=cupy"], r"backend='cupy': runs on cuda tensors, not on the cpu; use auto"),
    (["ckpt_path=/nonexistent/last.ckpt"], r"ckpt_path='/nonexistent/last.ckpt': no such file"),
    (["protocol=best"], r"protocol='best': valid: heldout \(.*\); paper \("),
    (["expected_data=5"], r"expected_data=5: must be \{input_shape: \[C, H, W\], num_classes: N\}, or null"),
    (
        ["expected_data={input_shape: [1, 28, 28], num_classes: 10}"],
        r"expected_data: train builds .*\[1, 28, 28\] .*\[1, 8, 8\]",
    ),
    # data: the data module checks what it takes (construction needs no files)
    (["data.batch_size=0"], rf"data.batch_size=0: {MUST_BE_INT}"),
    (["data.batch_size=abc"], rf"data.batch_size='abc': {MUST_BE_INT}"),
    (["data.num_workers=-1"], r"data.num_workers=-1: must be an integer >= 0"),
    (["data.val_fraction=1.5"], r"data.val_fraction=1.5: must be in \[0, 1\)"),
    (["data.val_fraction=abc"], r"data.val_fraction='abc': must be in \[0, 1\)"),
    (["data.seed=-1"], r"data.seed=-1: must be an integer >= 0"),
    (["data.seed=abc"], r"data.seed='abc': must be an integer >= 0"),
    (["+data.pin_memory=abc"], r"data.pin_memory='abc': must be true or false"),
    (["data.test_size=0"], rf"data.test_size=0: {MUST_BE_INT}"),
    (["data.test_size=5000"], r"data.test_size=5000: must be below the number of samples, 1797"),
    (["data.split_seed=-1"], r"data.split_seed=-1: must be an integer >= 0"),
    (["data.normalize=abc"], r"data.normalize='abc': valid: unit, standard"),
    (["data=mnist5k", "data.resize=[0,5]"], r"data.resize=\[0, 5\]: must be a list of integers >= 1"),
    (["data=mnist5k", "data.resize=[32]"], r"data.resize=\[32\]: must be \[H, W\], two integers >= 1"),
    (["data=mnist5k", "data.channels=0"], rf"data.channels=0: {MUST_BE_INT}"),
    (
        ["+data.size=48"],
        r"data.size=48: Digits takes no such argument \(it takes: .*batch_size.*\); drop the key with ~data.size$",
    ),
    (
        ["+data.size=null"],
        r"data.size=None: Digits takes no such argument .*; remove size from the config file that sets it$",
    ),
    (["data._target_=coco"], r"data._target_='coco': unknown data 'coco'; valid: cifar10, "),
    (["data=nmnist", "data.T=0"], rf"data.T=0: {MUST_BE_INT}"),
    (["data=nmnist", "data.split_by=count"], r"data.split_by='count': valid: time, number"),
    (["data=nmnist", "data.time_window=-5"], r"data.time_window=-5: must be a real number > 0"),
    (
        ["data=nmnist", "data.split_by=number", "data.time_window=1000"],
        r"data.time_window=1000: sets frame durations: it needs split_by=time",
    ),
    (["data=nmnist", "data.size=0"], rf"data.size=0: {MUST_BE_INT}"),
    (["data=nmnist", "data.size=[1,2,3]"], r"data.size=\[1, 2, 3\]: must be one integer or 2 integers >= 1"),
    (["data=nmnist", "data.denoise_filter_time=0"], r"data.denoise_filter_time=0: must be a real number > 0"),
    (["data=nmnist", "data.T_train=9"], r"data.T_train=9: must be an integer in \[1, T=2\]"),
    (["data=nmnist", "data.cache=abc"], r"data.cache='abc': must be true or false"),
    (["data=shd", "data.channels=0"], rf"data.channels=0: {MUST_BE_INT}"),
    (["data=shd", "+data.augment=crop_flip"], r"data.augment='crop_flip': transforms 2-D frames; SHDDataModule"),
    (["data=nmnist", "data.augment=true"], r"data.augment=True: valid: crop_flip \(what true was\), spikformer, null$"),
    (["data=cifar10", "data.cutout=-1"], r"data.cutout=-1: must be an integer >= 0"),
    (["data=cifar10", "data.download=abc"], r"data.download='abc': must be true or false"),
    (["data=cifar10", "data.std=[0.2]"], r"data.std=\[0.2\]: must be 3 numbers, one per channel"),
    (["data=cifar10", "data.erase={p: 2.0}"], r"data.erase=\{'p': 2.0\}: RandomErase: p=2.0: must be in \[0, 1\]"),
    (["data=mnist", "data.affine={rotate: 30}"], r"data.affine=\{'rotate': 30\}: .*RandomAffine takes degrees"),
    (["data=cifar10", "data.augment=crop"], r"data.augment='crop': valid: crop_flip \(what true was\), flip, null$"),
    (["data=cifar10", "data.randaugment=rand-x9"], r"data.randaugment='rand-x9': unknown section 'x9'; a timm RandAug"),
    (["data=cifar10", "data.randaugment=augmix-m3"], r"data.randaugment='augmix-m3': a timm RandAugment string is 'r"),
    (["data=cifar10", "data.randaugment_ops=foo"], r"data.randaugment_ops='foo': valid: full, spikformer$"),
    (["data=cifar10", "data.interpolation=area"], r"data.interpolation='area': valid: random, nearest, bilinear, bic"),
    (["data=cifar10", "data.color_jitter=-0.4"], r"data.color_jitter=-0.4: must be a real number >= 0"),
    (
        ["data=cifar10", "data.color_jitter=0.4", "data.randaugment=rand-m9"],
        r"data.color_jitter=0.4: must be null or 0: timm applies no colour jitter while RandAugment is on",
    ),
    (["data=cifar10", "data.random_erasing={p: 1.5}"], r"data.random_erasing=\{'p': 1.5\}: RandomErasing: p=1.5: must"),
    (
        ["data=cifar10", "data.random_erasing={mode: zeros}"],
        r"data.random_erasing=\{'mode': 'zeros'\}: RandomErasing: mode='zeros': valid: const, rand, pixel",
    ),
    (["data=imagenet", "data.randaugment=rand-m9-t3a"], r"data.randaugment='rand-m9-t3a': unknown section 't3a'"),
    # model
    (["model.hidden=0"], rf"model.hidden=0: {MUST_BE_INT}"),
    (["model.hidden=[0]"], rf"model.hidden=\[0\]: {MUST_BE_INT}"),
    (["model.hidden=[-3]"], rf"model.hidden=\[-3\]: {MUST_BE_INT}"),
    (["model.channels=[4,0]"], r"model.channels=\[4, 0\]: must be a list of integers >= 1"),
    (["model=mlp", "model.hidden=0"], r"model.hidden=0: must be a list of integers >= 1"),
    (["model=mlp", "model.hidden=[0]"], r"model.hidden=\[0\]: must be a list of integers >= 1"),
    (["model=vgg", "model.depth=7"], r"model.depth=7: valid: 9, 11, 13, 16"),
    (["model=vgg", "model.depth=9", "model.width_mult=0"], r"model.width_mult=0: must be a real number > 0"),
    (["model=vgg", "model.depth=9", "model.hidden=-4"], r"model.hidden=-4: must be "),
    (["model=resnet19", "model.hidden=abc"], r"model.hidden='abc': must be "),
    (["model._target_=alexnet"], r"model._target_='alexnet': unknown model 'alexnet'; valid: .*cnn"),
    # neuron
    (["neuron.v_threshold=abc"], r"neuron.v_threshold='abc': must be a real number"),
    (["neuron.tau=0.5"], r"neuron.tau=0.5: must be a real number > 1"),
    (["neuron.tau=abc"], r"neuron.tau='abc': must be a real number > 1"),
    (["neuron.v_reset=abc"], r"neuron.v_reset='abc': must be a real number"),
    (["neuron.detach_reset=abc"], r"neuron.detach_reset='abc': must be true or false"),
    (["neuron.decay_input=abc"], r"neuron.decay_input='abc': must be true or false"),
    (["neuron=if", "neuron.v_threshold=-1"], r"neuron.v_reset=0.0: must be below v_threshold"),
    (["neuron=plif", "neuron.init_tau=0.5"], r"neuron.init_tau=0.5: must be a real number > 1"),
    (["neuron=rif", "neuron.init_w=abc"], r"neuron.init_w='abc': must be a real number"),
    (["neuron._target_=izhikevich"], r"neuron._target_='izhikevich': unknown neuron 'izhikevich'; valid: .*lif"),
    (["neuron.surrogate._target_=erf"], r"neuron.surrogate._target_='erf': unknown surrogate 'erf'; valid: atan"),
    (["neuron.surrogate.alpha=-1"], r"neuron.surrogate.alpha=-1: must be a real number > 0"),
    (["neuron.surrogate=atan"], r"neuron.surrogate='atan': .*neuron.surrogate=\{_target_: atan"),
    # norm: the layers check the values the norm factory passes them
    (["norm.eps=-1"], r"norm.eps=-1: must be a real number > 0"),
    (["norm.eps=abc"], r"norm.eps='abc': must be a real number > 0"),
    (["norm.momentum=2"], r"norm.momentum=2: must be in \[0, 1\]"),
    (["norm=tdbn", "norm.alpha=abc"], r"norm.alpha='abc': must be a real number > 0"),
    (["norm=tdbn", "norm.alpha=0"], r"norm.alpha=0: must be a real number > 0"),
    (["norm=tdbn", "norm.v_th=abc"], r"norm.v_th='abc': must be a real number"),
    (["norm=neunorm", "norm.k=2"], r"norm.k=2: must be in \[0, 1\)"),
    (["norm=bntt", "norm.eps=abc"], r"norm.eps='abc': must be a real number > 0"),
    (["norm=bntt", "norm.momentum=-1"], r"norm.momentum=-1: must be in \[0, 1\]"),
    (["norm=bntt", "norm.T=0"], rf"norm.T=0: {MUST_BE_INT}"),
    (["norm=bntt", "norm.T=3"], r"norm.T=3: BatchNormThroughTime2d was built for T=3 .* T=2"),
    (["norm=tebn", "norm.T=abc"], rf"norm.T='abc': {MUST_BE_INT}"),
    (["norm=tdbn", "step_mode=s"], r"step_mode='s': layer '.+': ThresholdDependentBatchNorm2d cannot run in step"),
    (["norm._target_=layernorm"], r"norm._target_='layernorm': unknown norm 'layernorm'; valid: bn, "),
    # dropout
    (["dropout=dropout", "dropout.p=1.5"], r"dropout.p=1.5: must be in \[0, 1\)"),
    (["dropout=dropout", "dropout.p=-0.1"], r"dropout.p=-0.1: must be in \[0, 1\)"),
    (["dropout=dropout", "dropout.p=abc"], r"dropout.p='abc': must be in \[0, 1\)"),
    (["dropout=dropconnect", "dropout.p=1.0"], r"dropout.p=1.0: must be in \[0, 1\)"),
    (["dropout=dropconnect", "dropout.samples_num=0"], rf"dropout.samples_num=0: {MUST_BE_INT}"),
    (["dropout=dropconnect", "dropout.invariant=abc"], r"dropout.invariant='abc': must be true or false"),
    (["dropout._target_=zoneout"], r"dropout._target_='zoneout': unknown dropout 'zoneout'; valid: "),
    # encoder
    (["encoder=poisson", "encoder.T=0"], rf"encoder.T=0: {MUST_BE_INT}"),
    (["encoder=latency", "encoder.T=abc"], rf"encoder.T='abc': {MUST_BE_INT}"),
    (["encoder=poisson", "encoder.rescale=0"], r"encoder.rescale=0: must be a real number > 0"),
    (["encoder=poisson", "encoder.signed=abc"], r"encoder.signed='abc': must be true or false"),
    (["encoder._target_=delta"], r"encoder._target_='delta': unknown encoder 'delta'; valid: direct, latency"),
    # classifier
    (["++classifier.readout={_target_: voting, votes: 0}"], r"classifier.readout.votes=0: must be an integer >= 1"),
    (["classifier.loss._target_=hinge"], r"classifier.loss._target_='hinge': unknown loss 'hinge'; valid: ce, mse"),
    (["++classifier.loss={_target_: tet, lamb: 2}"], r"classifier.loss.lamb=2: must be in \[0, 1\]"),
    (["classifier.loss=mse"], r"classifier.loss='mse': a loss is a _target_ node now: classifier.loss=\{_target_: mse"),
    (
        ["classifier.loss=tet", "+classifier.loss_kwargs={lamb: 0.05}"],
        r"classifier.loss='tet': .*classifier.loss=\{_target_: tet, lamb: 0.05\}",
    ),
    (["+classifier.loss_kwargs={phi: 2}"], r"classifier.loss_kwargs=.*its node: classifier.loss=\{_target_: ce, phi"),
    (
        ["classifier.readout=voting", "+classifier.votes=5"],
        r"classifier.readout='voting': .*classifier.readout=\{_target_: voting, votes: 5\}",
    ),
    (["+classifier.votes=5"], r"classifier.votes=5: .*readout: classifier.readout=\{_target_: voting, votes: 5\}"),
    # augment: mixup and cutmix (augment.mixup)
    (["augment.mixup.prob=1.5"], r"augment.mixup.prob=1.5: must be in \[0, 1\]$"),
    (["augment.mixup.alpha=-1"], r"augment.mixup.alpha=-1: must be a real number >= 0$"),
    (["augment.mixup.mode=foo"], r"augment.mixup.mode='foo': valid: batch, pair, elem$"),
    (["augment.mixup.label_smoothing=1"], r"augment.mixup.label_smoothing=1: must be in \[0, 1\)$"),
    (["augment.mixup.off_epoch=-1"], r"augment.mixup.off_epoch=-1: must be an integer >= 0$"),
    (["augment.mixup.off_epoch=99", "trainer.max_epochs=5"], r"augment.mixup.off_epoch=99: past the run's epochs 0..4"),
    (["augment.mixup.cutmix_minmax=[0.8,0.2]"], r"augment.mixup.cutmix_minmax=\[0.8, 0.2\]: must be null or \[min, "),
    (["augment.mixup.cutmix_minmax=[0.2,0.22]"], r"augment.mixup.cutmix_minmax=\[0.2, 0.22\]: leaves no box side"),
    (["data=shd", "model=mlp", "augment.mixup.cutmix_alpha=1"], r"augment.mixup.cutmix_alpha=1: CutMix pastes boxes"),
    # optimizer and schedule
    (["optim.lr=-1"], r"optim.lr=-1: must be a real number >= 0$"),
    (["optim.lr=abc"], r"optim.lr='abc': must be a real number >= 0$"),
    (["+optim.betas2=0.9"], r"optim.betas2=0.9: TimmOptimizer takes no such argument \(it takes: opt, lr, "),
    (["optim.weight_decay=-1"], r"optim.weight_decay=-1: must be a real number >= 0$"),
    (["optim=sgd", "optim.momentum=-1"], r"optim.momentum=-1: must be a real number >= 0$"),
    (["optim.opt=nope"], r"optim.opt='nope': not a timm optimizer; valid: .*\badamw\b.*\blamb\b[^\n]*$"),
    (["+optim.betas=[0.9]"], r"optim.betas=\[0.9\]: must be two numbers in \[0, 1\)"),
    (["+optim.nesterov=true"], r"optim.nesterov=True: adam has no momentum; use null$"),
    (["optim.filter_bias_and_bn=abc"], r"optim.filter_bias_and_bn='abc': must be true or false$"),
    (["optim._target_=torch.optim.Nope"], r"optim._target_='torch.optim.Nope': "),
    (["scheduler=step", "scheduler.step_size=0"], r"scheduler \(.*StepLR\): ZeroDivisionError"),
    (["scheduler.T_max=0"], r"scheduler \(.*CosineAnnealingLR\): ZeroDivisionError"),
    (
        ["scheduler.eta_min=-1"],
        r"scheduler.T_max=\d+, scheduler.eta_min=-1: the learning rate turns -.* >= 0",
    ),
    (["scheduler._target_=torch.optim.lr_scheduler.Nope"], r"scheduler._target_='torch.optim.lr_scheduler.Nope': "),
    (
        ["scheduler=warmup_cosine", "scheduler.warmup_epochs=-1"],
        r"scheduler.warmup_epochs=-1: must be an integer >= 0$",
    ),
    (["scheduler=warmup_cosine", "scheduler.min_lr=-1"], r"scheduler.min_lr=-1: must be a real number >= 0$"),
    (["scheduler=warmup_cosine", "scheduler.warmup_lr=-1"], r"scheduler.warmup_lr=-1: must be a real number >= 0$"),
    (
        ["scheduler=warmup_cosine", "scheduler.cooldown_epochs=abc"],
        r"scheduler.cooldown_epochs='abc': must be an integer >= 0$",
    ),
    (["scheduler=warmup_cosine", "scheduler.per_step=abc"], r"scheduler.per_step='abc': must be true or false$"),
    (["scheduler=warmup_cosine", "scheduler.max_epochs=0"], rf"scheduler.max_epochs=0: {MUST_BE_INT}$"),
    # trainer, callbacks, logger, learning
    (["trainer.max_epochs=0"], rf"trainer.max_epochs=0: {MUST_BE_INT}"),
    (["trainer.max_epochs=abc"], rf"trainer.max_epochs='abc': {MUST_BE_INT}"),
    pytest.param(
        ["trainer=gpu", "trainer.accelerator=gpu"],  # the tests' FAST overrides set trainer.accelerator=cpu
        r"trainer.accelerator='gpu': trainer=gpu needs a CUDA device and none was found",
        marks=NO_GPU,
        id="trainer=gpu",
    ),
    (["trainer.devices=0"], r"trainer \(lightning.Trainer\): .*not a valid input"),
    (["trainer.precision=abc"], r"trainer \(lightning.Trainer\): Precision 'abc' is invalid. Allowed"),
    (["trainer=ddp", "trainer.sync_batchnorm=true"], r"trainer.sync_batchnorm=true: .*only on GPUs.*=auto"),
    (["trainer._target_=lightning.Nope"], r"trainer._target_='lightning.Nope': "),
    (["callbacks.best.save_top_k=-2"], r"callbacks.best \(.*ModelCheckpoint\): .*Must be >= -1"),
    (["callbacks.best._target_=lightning.Nope"], r"callbacks.best._target_='lightning.Nope': "),
    (["logger.csv._target_=lightning.Nope"], r"logger.csv._target_='lightning.Nope': "),
    (["learning._target_=hebbian"], r"learning._target_='hebbian': unknown learning 'hebbian'; valid: bptt, ottt"),
    # model EMA (checked only when on)
    (["ema.decay=1.5"], r"ema.decay=1.5: must be in \(0, 1\)$"),
    (["ema.decay=0"], r"ema.decay=0: must be in \(0, 1\)$"),
    (["ema=timm", "ema.warmup_gamma=0"], r"ema.warmup_gamma=0: must be a real number > 0$"),
    (["ema=timm", "ema.device=abc"], r"ema.device='abc': must be null \(the network's device\) or a torch device"),
]


def check_run(output_dir: Path, overrides: list[str]) -> None:
    """What ``python train.py`` does before training: build and try everything."""
    prepare(compose_run(output_dir, [*TINY, *overrides]))


@pytest.mark.parametrize(("overrides", "message"), CASES, ids=lambda c: " ".join(c) if isinstance(c, list) else "")
def test_bad_value_is_named_before_anything_is_written(tmp_path: Path, overrides: list[str], message: str) -> None:
    with pytest.raises(ValueError) as error:
        check_run(tmp_path, overrides)
    assert re.match(message, str(error.value)), str(error.value)
    assert not any(tmp_path.iterdir())


def test_unreadable_or_foreign_checkpoints(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(os.urandom(256))
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {}}, foreign)
    for path, message in ((garbage, "not a PyTorch checkpoint"), (foreign, "not written by snnlab")):
        with pytest.raises(ValueError, match=rf"ckpt_path='{path}': {message}"):
            check_run(tmp_path / "run", [f"ckpt_path={path}"])
    assert not (tmp_path / "run").exists()


def test_missing_and_garbage_data_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    forbid_network(monkeypatch)
    run = ["data=mnist", f"paths.data_dir={tmp_path}", "data.num_workers=0"]
    with pytest.raises(FileNotFoundError, match=r"(?s)MNIST not found in .*Pass download=true"):
        check_run(tmp_path / "run", run)
    write_mnist(tmp_path)
    (tmp_path / "MNIST/raw/train-images-idx3-ubyte").write_bytes(b"not an IDX file at all")
    with pytest.raises(OSError, match=r"MNIST files in .* cannot be read .*Delete them and get them again"):
        check_run(tmp_path / "run", run)


def test_event_data_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    forbid_network(monkeypatch)
    write_shd(tmp_path)
    with pytest.raises(ValueError, match=r"data.channels=0: "):
        check_run(tmp_path / "run", ["data=shd", f"paths.data_dir={tmp_path}", "model=mlp", "data.channels=0"])
    shd = ["data=shd", f"paths.data_dir={tmp_path}", "model=mlp", "T=4"]
    with pytest.raises(ValueError, match=r"data.T_train=5: must be an integer in \[1, T=4\]"):
        check_run(tmp_path / "run", [*shd, "data.T_train=5"])
    with pytest.raises(ValueError, match=r"data.T_train=3: .*per-step parameters for T=4 steps .*TemporalEffective"):
        check_run(tmp_path / "run", [*shd, "data.T_train=3", "norm=tebn"])
    check_run(tmp_path / "run", [*shd, "data.T_train=3", "norm=tdbn"])  # no per-step parameters: accepted


def cli(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, **env}, timeout=120
    )


@pytest.mark.slow
def test_command_line_errors_are_one_message_and_leave_nothing(tmp_path: Path) -> None:
    train = str(ROOT / "train.py")
    root_error = cli([train, "T=0"], tmp_path)
    group_error = cli([train, "neuron.v_threshold=abc"], tmp_path)
    for result, message in ((root_error, "error: T=0 (as encoder.T): must be"), (group_error, "error: neuron.v_thr")):
        assert result.returncode == 2, result.stderr
        assert message in result.stderr and "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "outputs").exists()  # no run folder, and no empty folders above it

    full = cli([train, "T=0"], tmp_path, HYDRA_FULL_ERROR="1")
    assert full.returncode == 1 and "Traceback" in full.stderr and "T=0 (as encoder.T): must be" in full.stderr
    assert not (tmp_path / "outputs").exists()


@pytest.mark.slow
def test_eval_on_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    result = cli([str(ROOT / "eval.py"), str(tmp_path)], tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"error: {tmp_path}: not a run folder (it has no checkpoints/)" in result.stderr

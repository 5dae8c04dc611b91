"""Bad values stop a run before anything is written, fast, with a message that names the key, the value and what is
valid; on the command line without a traceback, with exit code 2 and no run folder left behind."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from fake_datasets import forbid_network, write_mnist, write_shd
from training_helpers import compose_run

from snnlab.cli import check_root
from snnlab.training.run.lifecycle import prepare

ROOT = Path(__file__).resolve().parents[1]
TINY = ["trainer.max_epochs=1", "+trainer.limit_train_batches=2"]

# (overrides, regex the message must match from its start: key=value, then what is valid)
CASES: list[tuple[list[str], str]] = [
    # root keys (checked before the training stack is imported)
    (["T=0"], r"T=0: must be a positive integer"),
    (["T=-3"], r"T=-3: must be a positive integer"),
    (["T=abc"], r"T='abc': must be a positive integer"),
    (["seed=abc"], r"seed='abc': must be an integer, or null"),
    (["seed=1.5"], r"seed=1.5: must be an integer"),
    (["step_mode=x"], r"step_mode='x': must be 'm' .* or 's'"),
    (["ckpt_path=/nonexistent/last.ckpt"], r"ckpt_path='/nonexistent/last.ckpt': no such file"),
    (["expected_data=5"], r"expected_data=5: must be \{input_shape: \[C, H, W\], num_classes: N\}, or null"),
    (
        ["expected_data={input_shape: [1, 28, 28], num_classes: 10}"],
        r"expected_data: train builds .*\[1, 28, 28\] .*\[1, 8, 8\]",
    ),
    # data
    (["data.batch_size=0"], r"data.batch_size=0: batch_size should be a positive integer"),
    (["data.batch_size=abc"], r"data.batch_size='abc': batch_size should be a positive integer"),
    (["data.num_workers=-1"], r"data.num_workers=-1: num_workers option should be non-negative"),
    (["data.val_fraction=1.5"], r"data.val_fraction=1.5: val_fraction must be in \[0, 1\)"),
    (["data.val_fraction=abc"], r"data.val_fraction='abc': '<=' not supported"),
    (["data.test_size=0"], r"data.test_size=0: .*must be .*an int in the range \[1, inf\)"),
    (["data.test_size=5000"], r"data.test_size=5000: .*smaller than the number of samples 1797"),
    (["data.split_seed=-1"], r"data.split_seed=-1: .*must be an int in the range \[0, "),
    (["data.normalize=abc"], r"data.normalize='abc': .*valid: \('unit', 'standard'\)"),
    (
        ["+data.size=48"],
        r"data.size=48: Digits takes no such argument \(it takes: .*batch_size.*\); drop the key with ~data.size$",
    ),
    (
        ["+data.size=null"],
        r"data.size=None: Digits takes no such argument .*; remove size from the config file that sets it$",
    ),
    # model
    (["model.hidden=0"], r"model.hidden=0: builds a layer without units .*sizes must be >= 1"),
    (["model.hidden=-1"], r"model.hidden=-1: .*negative dimension"),
    (["model.channels=[4,0]"], r"model.channels=\[4, 0\]: builds a layer without units"),
    (["model=mlp", "model.hidden=[0]"], r"model.hidden=\[0\]: builds a layer without units"),
    (["model=vgg", "model.depth=7"], r"model.depth=7: vgg: unknown depth 7; valid: \[9, 11, 13, 16\]"),
    (["model=resnet19", "model.hidden=abc"], r"model.hidden='abc': "),
    (["model._target_=alexnet"], r"model._target_='alexnet': unknown model 'alexnet'; valid: .*cnn"),
    # neuron
    (["neuron.v_threshold=abc"], r"neuron.v_threshold='abc': LIF: v_threshold must be a real number"),
    (["neuron.tau=0.5"], r"neuron.tau=0.5: LIF: tau must be > 1"),
    (["neuron.v_reset=abc"], r"neuron.v_reset='abc': LIF: v_reset must be a real number"),
    (["neuron=if", "neuron.v_threshold=-1"], r"neuron.v_threshold=-1, neuron.v_reset=0.0: .*must be below"),
    (["neuron=plif", "neuron.init_tau=0.5"], r"neuron.init_tau=0.5: PLIF: init_tau must be > 1"),
    (["neuron=rif", "neuron.init_w=abc"], r"neuron.init_w='abc': could not convert string to float"),
    (["neuron.surrogate=erf"], r"neuron.surrogate='erf': unknown surrogate 'erf'; valid: atan"),
    # norm
    (["norm.eps=-1"], r"norm.eps=-1: batch_norm eps must be positive"),
    (["norm=tdbn", "norm.alpha=abc"], r"norm.alpha='abc': could not convert string to float"),
    (["norm=neunorm", "norm.k=2"], r"norm.k=2: NeuNorm: k must be in \[0, 1\)"),
    (["norm=bntt", "norm.eps=abc"], r"norm.eps='abc': "),
    (["norm=bntt", "norm.T=3"], r"norm.T=3: BatchNormThroughTime2d was built for T=3 .* T=2"),
    (["norm=tdbn", "step_mode=s"], r"layer '.+': ThresholdDependentBatchNorm2d cannot run in step mode 's'; supported"),
    # dropout, encoder, classifier
    (["dropout=dropout", "dropout.p=1.5"], r"dropout.p=1.5: .*p must be in \[0, 1\)"),
    (["dropout=dropout", "dropout.p=abc"], r"dropout.p='abc': "),
    (["dropout=dropconnect", "dropout.samples_num=0"], r"dropout.samples_num=0: .*samples_num must be >= 1"),
    (["encoder=poisson", "encoder.T=0"], r"encoder.T=0: PoissonEncoder: T must be a positive integer"),
    (["classifier.readout=voting", "classifier.votes=0"], r"classifier.votes=0: .*must be a positive integer"),
    (["classifier.loss=hinge"], r"unknown loss 'hinge'; valid: ce, mse"),
    # optimizer and schedule
    (["optim.lr=-1"], r"optim.lr=-1: Invalid learning rate: -1"),
    (["optim.lr=abc"], r"optim.lr='abc': "),
    (["+optim.betas2=0.9"], r"optim.betas2=0.9: Adam takes no such argument \(it takes: params, lr, betas, "),
    (["optim.weight_decay=-1"], r"optim.weight_decay=-1: Invalid weight_decay value"),
    (["optim=sgd", "optim.momentum=-1"], r"optim.momentum=-1: Invalid momentum value"),
    (["scheduler=step", "scheduler.step_size=0"], r"scheduler.step_size=0: ZeroDivisionError.* must not be 0"),
    (["scheduler.T_max=0"], r"scheduler.T_max=0: ZeroDivisionError"),
    (["scheduler.eta_min=-1"], r"scheduler.eta_min=-1: the learning rate turns -.* it must stay >= 0"),
    (["scheduler=step", "scheduler.step_size=1", "scheduler.gamma=-1"], r"scheduler.gamma=-1: the learning rate"),
    # trainer, callbacks, backend
    (["trainer.max_epochs=0"], r"trainer.max_epochs=0: must be a positive integer"),
    (["trainer.max_epochs=abc"], r"trainer.max_epochs='abc': must be a positive integer"),
    (["trainer.devices=0"], r"(trainer.accelerator='cpu', )?trainer.devices=0: .*not a valid input"),
    (["trainer.precision=abc"], r"trainer.precision='abc': Precision 'abc' is invalid. Allowed"),
    (["trainer=ddp", "trainer.sync_batchnorm=true"], r"trainer.sync_batchnorm=true: .*only on GPUs.*=auto"),
    (["callbacks.best.save_top_k=-2"], r"callbacks.best.save_top_k=-2: .*Must be >= -1"),
    (["callbacks.best.save_top_k=abc"], r"callbacks.best.save_top_k='abc': "),
    (["backend=cupy"], r"backend='cupy': runs on cuda tensors, but this run is on the cpu.*backend=auto"),
    (["backend=numba"], r"backend='numba': unknown neuron backend; valid: auto, .*torch"),
]


def check_run(output_dir: Path, overrides: list[str]) -> None:
    """What ``python train.py`` does before training: the root check, then building and trying everything."""
    cfg = compose_run(output_dir, [*TINY, *overrides])
    check_root(cfg)
    prepare(cfg)


@pytest.mark.parametrize(("overrides", "message"), CASES, ids=lambda c: " ".join(c) if isinstance(c, list) else "")
def test_bad_value_is_named_before_anything_is_written(tmp_path: Path, overrides: list[str], message: str) -> None:
    start = time.perf_counter()
    with pytest.raises(ValueError) as error:
        check_run(tmp_path, overrides)
    assert time.perf_counter() - start < 5.0
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
    with pytest.raises(ValueError, match=r"data.T_train=5: T_train must be an integer in \[1, T=4\]"):
        check_run(tmp_path / "run", [*shd, "data.T_train=5"])
    with pytest.raises(ValueError, match=r"data.T_train=3: .*per-step parameters for T=4 steps .*TemporalEffective"):
        check_run(tmp_path / "run", [*shd, "data.T_train=3", "norm=tebn"])
    check_run(tmp_path / "run", [*shd, "data.T_train=3", "norm=tdbn"])  # no per-step parameters: accepted


def cli(args: list[str], cwd: Path, **env: str) -> tuple[subprocess.CompletedProcess, float]:
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, **env}, timeout=120
    )
    return result, time.perf_counter() - start


def test_command_line_errors_are_one_message_and_leave_nothing(tmp_path: Path) -> None:
    train = str(ROOT / "train.py")
    root_error, t_root = cli([train, "T=0"], tmp_path)
    group_error, t_group = cli([train, "neuron.v_threshold=abc"], tmp_path)
    for result, message in ((root_error, "error: T=0: must be"), (group_error, "error: neuron.v_threshold='abc'")):
        assert result.returncode == 2, result.stderr
        assert message in result.stderr and "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "outputs").exists()  # no run folder, and no empty folders above it
    assert t_root < t_group < 60  # the root keys fail before the training stack is imported

    full, _ = cli([train, "T=0"], tmp_path, HYDRA_FULL_ERROR="1")
    assert full.returncode == 1 and "Traceback" in full.stderr and "T=0: must be" in full.stderr
    assert not (tmp_path / "outputs").exists()


def test_eval_on_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    result, _ = cli([str(ROOT / "eval.py"), str(tmp_path)], tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"error: {tmp_path}: not a run folder (it has no checkpoints/)" in result.stderr

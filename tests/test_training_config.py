"""Every neuron × norm × dropout × step mode either runs one fast_dev_run batch or fails early and clearly."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hydra.errors import MissingConfigException
from training_helpers import compose_run

from snnlab.data.digits import Digits
from snnlab.models.factories import MULTI_STEP_ONLY_NORMS
from snnlab.training import ConfigError, SNNClassifier, train, validate_config

NEURONS = ["if", "lif", "plif", "rif"]
NORMS = ["none", "bn", "tdbn", "tebn", "bntt", "neunorm"]
DROPOUTS = ["none", "dropout", "dropconnect"]
COMBOS = list(itertools.product(NEURONS, NORMS, DROPOUTS, ["m", "s"]))


@pytest.mark.parametrize(("neuron", "norm", "dropout", "step_mode"), COMBOS, ids="-".join)
def test_every_combination(tmp_path: Path, neuron: str, norm: str, dropout: str, step_mode: str) -> None:
    cfg = compose_run(
        tmp_path,
        [f"neuron={neuron}", f"norm={norm}", f"dropout={dropout}", f"step_mode={step_mode}", "debug=fdr"],
    )
    if step_mode == "s" and norm in MULTI_STEP_ONLY_NORMS:
        with pytest.raises(ConfigError, match=rf"norm={norm}.*step_mode=m.*none, bn, bntt, neunorm"):
            train(cfg)
        assert not any(tmp_path.iterdir())  # failed before writing anything
    else:
        train(cfg)
        assert (tmp_path / "summary.json").is_file()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["T=0"], r"T must be a positive integer, got T=0"),
        (["T=-3"], r"T=-3"),
        (["norm=tebn", "norm.T=8"], r"norm.T=8 but the run has T=2"),
        (["norm=bntt", "norm.T=3"], r"norm.T=3 but the run has T=2"),
        (["dropout=dropout", "dropout.p=1.0"], r"dropout.p must be in \[0, 1\), got p=1.0"),
        (["dropout=dropconnect", "dropout.p=-0.1"], r"got p=-0.1"),
        (["step_mode=x"], r"unknown step_mode 'x'; valid: s, m"),
        (["backend=numba"], r"unknown backend 'numba'; valid: auto, torch, cupy"),
        (["model.name=alexnet"], r"unknown model 'alexnet'; valid: cnn, mlp, resnet19, vgg"),
        (["classifier.loss=hinge"], r"unknown loss 'hinge'; valid: ce, mse"),
    ],
)
def test_bad_values_fail_before_training(tmp_path: Path, overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        train(compose_run(tmp_path, overrides))
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("encoder", ["poisson", "latency"])
def test_non_direct_encoder_on_event_data_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encoder: str) -> None:
    monkeypatch.setattr(Digits, "time_first", True)  # stands in for an event data module
    with pytest.raises(ConfigError, match=rf"encoder={encoder} cannot be used with event data.*encoder=direct"):
        validate_config(compose_run(tmp_path, [f"encoder={encoder}"]))


@pytest.mark.parametrize("group", ["norm", "neuron", "model", "encoder", "dropout"])
def test_unknown_group_option_lists_choices(tmp_path: Path, group: str) -> None:
    with pytest.raises(MissingConfigException, match=r"Available options"):
        compose_run(tmp_path, [f"{group}=nope"])


@pytest.mark.parametrize("encoder", ["direct", "poisson", "latency"])
@pytest.mark.parametrize(
    "options", [["classifier.readout=voting"], ["classifier.loss=mse", "classifier.spiking_head=true"]]
)
def test_encoders_readouts_losses_run(tmp_path: Path, encoder: str, options: list[str]) -> None:
    train(compose_run(tmp_path, [f"encoder={encoder}", "debug=fdr", *options]))


def test_seed_zero_is_a_seed(tmp_path: Path) -> None:
    accs = [
        train(compose_run(tmp_path / str(i), ["debug=fdr", "seed=0", "optimized_metric=train/loss"])) for i in range(2)
    ]
    assert accs[0] == accs[1]


def test_nan_metric_raises_for_sweepers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loss = SNNClassifier._loss
    monkeypatch.setattr(SNNClassifier, "_loss", lambda self, s, y: loss(self, s, y) * float("nan"))
    with pytest.raises(FloatingPointError, match="val/loss is NaN"):
        train(compose_run(tmp_path, ["debug=fdr", "optimized_metric=val/loss"]))

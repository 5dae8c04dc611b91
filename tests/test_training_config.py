"""Every neuron × norm × dropout × step mode learns on a fixed batch (or fails at build time, clearly), and bad
config values stop the run before anything is written."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch
from hydra.errors import MissingConfigException
from omegaconf import OmegaConf
from training_helpers import compose_run

from snnlab import registry
from snnlab.data.digits import Digits
from snnlab.training import build, run_training
from snnlab.training.run.build import build_head

NEURONS = ["if", "lif", "plif", "rif", "alif", "cuba_lif"]
ONLINE_NEURONS = ["ottt_lif"]  # learning=ottt only: covered by tests/test_learning_ottt.py
NORMS = ["none", "bn", "tdbn", "tebn", "bntt", "neunorm"]
DROPOUTS = ["none", "dropout", "dropconnect"]
COMBOS = list(itertools.product(NEURONS, NORMS, DROPOUTS, ["m", "s"]))
MULTI_STEP_ONLY = {"tdbn": "ThresholdDependentBatchNorm", "tebn": "TemporalEffectiveBatchNorm"}


def test_the_config_groups_cover_every_registered_component() -> None:
    for kind, tested in (("neuron", NEURONS + ONLINE_NEURONS), ("norm", NORMS), ("dropout", DROPOUTS)):
        assert registry.names(kind) == sorted(tested)


@pytest.mark.slow  # 168 short training loops
@pytest.mark.parametrize(
    ("neuron", "norm", "dropout", "step_mode"), COMBOS, ids=lambda c: "-".join(c) if isinstance(c, tuple) else c
)
def test_every_combination_learns_a_fixed_batch(
    tmp_path: Path, neuron: str, norm: str, dropout: str, step_mode: str
) -> None:
    cfg = compose_run(tmp_path, [f"neuron={neuron}", f"norm={norm}", f"dropout={dropout}", f"step_mode={step_mode}"])
    torch.manual_seed(0)
    if step_mode == "s" and norm in MULTI_STEP_ONLY:
        with pytest.raises(ValueError, match=rf"layer '.+': {MULTI_STEP_ONLY[norm]}2d cannot run in step mode 's'"):
            build(cfg)
        return
    datamodule, module = build(cfg)
    datamodule.setup("fit")
    x, y = next(iter(datamodule.train_dataloader()))
    optimizer = torch.optim.Adam(module.parameters(), lr=0.01)
    losses = []
    first_conv = next(m for m in module.net.modules() if isinstance(m, torch.nn.Conv2d))
    for _ in range(8):
        loss, _ = module.compute_loss((x, y))
        assert torch.isfinite(loss)
        optimizer.zero_grad()
        loss.backward()
        assert first_conv.weight.grad.abs().sum() > 0  # the surrogate gradient crosses every layer
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.02, losses
    # every step resets the state: a batch of another size runs in training and in eval
    module.compute_loss((x[:5], y[:5]))
    module.eval()
    with torch.no_grad():
        module.compute_loss((x[:3], y[:3]))


def test_T_is_set_once_at_the_root(tmp_path: Path) -> None:
    cfg = compose_run(tmp_path, ["T=6", "norm=tebn", "data=nmnist"])
    assert cfg.norm.T == cfg.data.T == cfg.encoder.T == 6


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["T=0"], r"T=0 \(as encoder.T\): must be an integer >= 1"),
        (["T=-3"], r"T=-3"),
        (["dropout=dropout", "dropout.p=1.0"], r"dropout.p=1.0: must be in \[0, 1\)"),
        (["dropout=dropconnect", "dropout.p=-0.1"], r"dropout.p=-0.1: must be in \[0, 1\)"),
        (["step_mode=x"], r"step_mode='x': must be 'm' .* or 's'"),
        (["backend=numba"], r"^backend='numba': unknown neuron backend; valid: auto, .*torch"),
        (["model._target_=alexnet"], r"unknown model 'alexnet'; valid: bntt_vgg, cifarnet, cnn, .*resnet19, sew_dvs"),
        (["neuron._target_=izhikevich"], r"unknown neuron 'izhikevich'; valid: alif, cuba_lif, if, lif, .*rif"),
        (["norm._target_=layernorm"], r"unknown norm 'layernorm'; valid: bn, bntt, neunorm, none, tdbn, tebn"),
        (["dropout._target_=zoneout"], r"unknown dropout 'zoneout'; valid: dropconnect, dropout, none"),
        (["encoder._target_=delta"], r"unknown encoder 'delta'; valid: direct, latency, poisson"),
        (["data._target_=coco"], r"unknown data 'coco'; valid: cifar10, .*imagenet, .*mnist5k"),
        (["neuron.surrogate._target_=erf"], r"unknown surrogate 'erf'; valid: atan, "),
        (["classifier.loss._target_=hinge"], r"unknown loss 'hinge'; valid: ce, mse, tet"),
        (["classifier.readout._target_=max"], r"unknown readout 'max'; valid: mean, voting"),
        (["++classifier.readout={_target_: voting, votes: 0}"], r"classifier.readout.votes=0: must be an integer"),
    ],
)
def test_bad_values_fail_before_anything_is_written(tmp_path: Path, overrides: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        run_training(compose_run(tmp_path, overrides))
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("classifier", "message"),
    [
        ({"loss": {"name": "tet", "lamb": 0.05}}, r"classifier.loss=.*: .*=\{_target_: tet, lamb: 0.05\}$"),
        ({"readout": {"name": "voting", "votes": 5}}, r"classifier.readout=\{_target_: voting, votes: 5\}$"),
    ],
)
def test_old_spellings_in_a_config_file_show_the_node(classifier: dict, message: str) -> None:
    node = OmegaConf.create({"loss": {"_target_": "ce"}, "readout": {"_target_": "mean"}, **classifier})
    with pytest.raises(ValueError, match=message):
        build_head(node)


@pytest.mark.parametrize("encoder", ["poisson", "latency"])
def test_non_direct_encoder_on_event_data_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encoder: str) -> None:
    monkeypatch.setattr(Digits, "time_first", True)  # stands in for an event data module
    with pytest.raises(ValueError, match=rf"encoder '{encoder}' cannot be used with event data.*encoder=direct"):
        build(compose_run(tmp_path, [f"encoder={encoder}"]))


@pytest.mark.parametrize("group", ["norm", "neuron", "model", "encoder", "dropout", "data"])
def test_unknown_group_option_lists_choices(tmp_path: Path, group: str) -> None:
    with pytest.raises(MissingConfigException, match=r"Available options"):
        compose_run(tmp_path, [f"{group}=nope"])


@pytest.mark.parametrize("encoder", ["direct", "poisson", "latency"])
@pytest.mark.parametrize(
    "options",
    [
        ["++classifier.readout={_target_: voting, votes: 3}"],
        ["classifier.loss={_target_: mse}", "classifier.spiking_head=true"],
    ],
)
def test_encoders_readouts_losses_run(tmp_path: Path, encoder: str, options: list[str]) -> None:
    acc = run_training(
        compose_run(tmp_path, [f"encoder={encoder}", "debug=fdr", "optimized_metric=test/acc", *options])
    )
    assert 0.0 <= acc <= 1.0
    assert (tmp_path / "summary.json").is_file()


def test_seed_zero_is_a_seed(tmp_path: Path) -> None:
    losses = [
        run_training(compose_run(tmp_path / str(i), ["debug=fdr", "seed=0", "optimized_metric=train/loss"]))
        for i in range(2)
    ]
    assert losses[0] == losses[1]


def test_nan_metric_raises_for_sweepers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ce = registry.get("loss", "ce")
    monkeypatch.setattr(ce, "on_scores", lambda self, scores, targets: scores.sum() * float("nan"))
    with pytest.raises(FloatingPointError, match="val/loss is NaN"):
        run_training(compose_run(tmp_path, ["debug=fdr", "optimized_metric=val/loss"]))

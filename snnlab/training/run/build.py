"""Build a run's data module and LightningModule from its config (training and evaluation share this).

Every value is checked where it is consumed, by the constructor that takes it; building happens before any
training step, so a bad value stops the run before it starts.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from omegaconf import DictConfig, OmegaConf
from torch import nn

from snnlab import data  # noqa: F401  (registers the data modules)
from snnlab.data.base import SNNDataModule
from snnlab.encoders import DirectEncoder, Encoder
from snnlab.functional import configure
from snnlab.instantiate import ConfigError, instantiate, traced
from snnlab.training.module.classifier import SNNClassifier
from snnlab.training.module.learning import LearningMode
from snnlab.training.module.losses import Loss
from snnlab.training.module.mixup import MixUp
from snnlab.training.module.readouts import Readout
from snnlab.training.module.schedulers import total_epochs

log = logging.getLogger(__name__)


def _node(value: object, args: Mapping[str, object] | None = None) -> str:
    """The ``_target_`` node of an old spelling: a name (plus ``args``) or ``{name: ..., **args}``."""
    if isinstance(value, Mapping):
        value, args = value.get("name"), {k: v for k, v in value.items() if k != "name"}
    return "{" + ", ".join(f"{k}: {v}" for k, v in {"_target_": value, **(args or {})}.items()) + "}"


def check_classifier(classifier: DictConfig) -> None:
    """Refuse the spellings from before loss and readout were ``_target_`` nodes, showing the node spelling."""
    loss_args = classifier.get("loss_kwargs")
    votes = {"votes": classifier.votes} if "votes" in classifier and classifier.get("readout") == "voting" else None
    for key, args in (("loss", loss_args), ("readout", votes)):
        value = classifier.get(key)
        if not (isinstance(value, Mapping) and "_target_" in value):
            raise ConfigError(
                f"classifier.{key}={value!r}: a {key} is a _target_ node now: classifier.{key}={_node(value, args)}"
            )
    if "loss_kwargs" in classifier:
        new = _node(classifier.loss._target_, loss_args) if loss_args else "{_target_: tet, lamb: 0.001, phi: 1.0}"
        raise ConfigError(
            f"classifier.loss_kwargs={loss_args!r}: the loss's arguments go into its node: classifier.loss={new}"
        )
    if "votes" in classifier:
        new = _node("voting", {"votes": classifier.votes})
        raise ConfigError(
            f"classifier.votes={classifier.votes!r}: the votes belong to the voting readout: classifier.readout={new}"
        )


def build_head(classifier: DictConfig) -> tuple[Loss, Readout]:
    """The loss and readout of the ``classifier`` config (``classifier.loss``, ``classifier.readout``)."""
    check_classifier(classifier)
    return instantiate(classifier.loss, kind="loss"), instantiate(classifier.readout, kind="readout")


def output_units(num_classes: int, classifier: DictConfig) -> int:
    """Output neurons of the network for ``num_classes`` classes, as the readout needs them."""
    return build_head(classifier)[1].output_units(num_classes)


def build_learning(cfg: DictConfig) -> LearningMode:
    """The run's learning mode (``bptt`` for configs written before learning modes existed)."""
    return instantiate(cfg.get("learning") or {"_target_": "bptt"}, kind="learning")


def build_model(
    cfg: DictConfig,
    input_shape: tuple[int, ...],
    num_classes: int,
    learning: LearningMode | None = None,
    time_first: bool | None = None,
) -> nn.Module:
    """The network of ``cfg`` in the step mode it runs in (``cfg.step_mode``, or the one the learning mode needs)
    on ``cfg.backend``, checked (and for OTTT converted to its online form) by the learning mode.  ``time_first``
    (event data) fills a model's ``event_input`` key."""
    learning = learning or build_learning(cfg)
    step_mode = learning.step_mode(cfg.step_mode)
    data_kind = {"event_input": time_first} if "event_input" in cfg.model and time_first is not None else {}
    builder = instantiate(cfg.model, kind="model", **data_kind)
    net = builder(  # each factory's errors name its own config node
        input_shape=tuple(input_shape),
        num_classes=output_units(num_classes, cfg.classifier),
        spiking_head=cfg.classifier.spiking_head,
        make_neuron=instantiate(cfg.neuron, kind="neuron"),
        norm=traced(cfg.norm, instantiate(cfg.norm, kind="norm")),
        dropout=traced(cfg.dropout, instantiate(cfg.dropout, kind="dropout")),
    )
    for note in configure(net, step_mode, cfg.backend):  # a foreign neuron without the option
        log.warning(note)
    return learning.prepare(net)


def build_encoder(cfg: DictConfig, datamodule: SNNDataModule) -> Encoder | None:
    """The run's encoder; ``None`` for time-first (event) data, which only the direct encoder passes through."""
    encoder: Encoder = instantiate(cfg.encoder, kind="encoder", mean=datamodule.mean, std=datamodule.std)
    if not datamodule.time_first:
        return encoder
    if not isinstance(encoder, DirectEncoder):
        raise ValueError(
            f"encoder {cfg.encoder._target_!r} cannot be used with event data ({type(datamodule).__name__} yields "
            "time-first frames, which go to the network unencoded); use encoder=direct"
        )
    return None


def check_expected_data(cfg: DictConfig, input_shape: tuple[int, ...], num_classes: int) -> None:
    """The data a recipe's network is built for (root key ``expected_data``: ``input_shape``, ``num_classes``)
    against the run's data: other data stops the run, naming both; ``expected_data=null`` builds for any data."""
    expected = cfg.get("expected_data")
    if expected is None:
        return
    try:
        want = [int(n) for n in expected["input_shape"]], int(expected["num_classes"])
    except (KeyError, TypeError, ValueError) as e:
        raise ConfigError(
            f"expected_data={expected!r}: must be {{input_shape: [C, H, W], num_classes: N}}, or null"
        ) from e
    got = list(input_shape), int(num_classes)
    if want != got:
        raise ConfigError(
            f"expected_data: {cfg.task_name} builds its network for input {want[0]} with {want[1]} classes, but "
            f"data={cfg.data._target_} gives input {got[0]} with {got[1]} classes; use the recipe's data, or add "
            "expected_data=null to build the network for this data"
        )


def build_mixup(cfg: DictConfig, input_shape: tuple[int, ...], num_classes: int, epochs: int) -> MixUp | None:
    """The run's Mixup/CutMix and label smoothing (``augment.mixup``), checked against the data's frames and the
    run's ``epochs`` (``off_epoch`` must come before the end); ``None`` when it changes nothing."""
    node = OmegaConf.select(cfg, "augment.mixup")
    if node is None:
        return None
    mixup: MixUp = instantiate(node, kind="mixup", num_classes=num_classes)
    checked = traced(node, mixup)  # errors name augment.mixup.<key>
    checked.check_frames(input_shape)
    checked.check_epochs(epochs)
    return mixup if mixup.active else None


def check_train_steps(net: nn.Module, datamodule: SNNDataModule) -> None:
    """Refuse a temporal crop (``data.T_train``) for a network with per-step parameters, built for exactly ``T``."""
    crop = getattr(datamodule, "temporal_crop", None)
    bound = [f"{name} ({type(m).__name__})" for name, m in net.named_modules() if getattr(m, "T", None) is not None]
    if crop is not None and bound:
        raise ConfigError(
            f"data.T_train={crop.frames}: these layers hold per-step parameters for T={crop.T} steps and cannot "
            f"train on {crop.frames} of them: {', '.join(bound[:3])}{' ...' if len(bound) > 3 else ''}; use a norm "
            "without per-step parameters (norm=bn, tdbn) or data.T_train=null"
        )


def build(cfg: DictConfig) -> tuple[SNNDataModule, SNNClassifier]:
    """Data module and classifier of a run; the classifier carries the resolved ``cfg`` into checkpoints."""
    datamodule: SNNDataModule = instantiate(cfg.data, kind="data")
    check_expected_data(cfg, datamodule.input_shape, datamodule.num_classes)
    learning = build_learning(cfg)
    learning.check_trainer(cfg.trainer)
    net = build_model(cfg, datamodule.input_shape, datamodule.num_classes, learning, datamodule.time_first)
    check_train_steps(net, datamodule)
    if cfg.get("compile"):  # in place: the state_dict keys stay those of the eager network
        net.compile(dynamic=False)  # one graph per batch shape (dynamic shapes fail in Inductor here)
    scheduler = instantiate(cfg.scheduler) if cfg.get("scheduler") else None
    epochs = total_epochs(scheduler, cfg.trainer.max_epochs)
    loss, readout = build_head(cfg.classifier)
    module = SNNClassifier(
        net=net,
        encoder=build_encoder(cfg, datamodule),
        num_classes=datamodule.num_classes,
        optimizer=instantiate(cfg.optim),
        scheduler=scheduler,
        loss=loss,
        readout=readout,
        step_mode=learning.step_mode(cfg.step_mode),
        config=OmegaConf.to_container(cfg, resolve=True),
        learning=learning,
        mixup=build_mixup(cfg, datamodule.input_shape, datamodule.num_classes, epochs),
    )
    return datamodule, module

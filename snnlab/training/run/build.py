"""Build a run's data module and LightningModule from its config (training and evaluation share this).

Every value is checked where it is consumed, by the constructor that takes it; building happens before any
training step, so a bad value stops the run before it starts.
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf
from torch import nn

from snnlab import data  # noqa: F401  (registers the data modules)
from snnlab.data.base import SNNDataModule
from snnlab.encoders import DirectEncoder, Encoder
from snnlab.functional import set_backend, set_step_mode
from snnlab.instantiate import ConfigError, instantiate, traced
from snnlab.training.module.classifier import SNNClassifier
from snnlab.training.module.learning import LearningMode


def output_units(num_classes: int, classifier: DictConfig) -> int:
    """Output neurons of the network: ``num_classes``, times ``votes`` with the voting readout."""
    if classifier.readout != "voting":
        return num_classes
    votes = classifier.votes
    if isinstance(votes, bool) or not isinstance(votes, int) or votes < 1:
        raise ValueError(f"classifier.votes must be a positive integer, got {votes!r}")
    return num_classes * votes


def build_learning(cfg: DictConfig) -> LearningMode:
    """The run's learning mode (``bptt`` for configs written before learning modes existed)."""
    return instantiate(cfg.get("learning") or {"_target_": "bptt"}, kind="learning")


def build_model(
    cfg: DictConfig, input_shape: tuple[int, ...], num_classes: int, learning: LearningMode | None = None
) -> nn.Module:
    """The network of ``cfg`` in the step mode it runs in (``cfg.step_mode``, or the one the learning mode needs)
    on ``cfg.backend``, checked (and for OTTT converted to its online form) by the learning mode."""
    learning = learning or build_learning(cfg)
    step_mode = learning.step_mode(cfg.step_mode)
    builder = instantiate(cfg.model, kind="model")
    net = builder(  # each factory's errors name its own config node
        input_shape=tuple(input_shape),
        num_classes=output_units(num_classes, cfg.classifier),
        spiking_head=cfg.classifier.spiking_head,
        make_neuron=instantiate(cfg.neuron, kind="neuron", step_mode=step_mode, backend=cfg.backend),
        norm=traced(cfg.norm, instantiate(cfg.norm, kind="norm")),
        dropout=traced(cfg.dropout, instantiate(cfg.dropout, kind="dropout")),
    )
    set_step_mode(net, step_mode)
    set_backend(net, cfg.backend)
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
    net = build_model(cfg, datamodule.input_shape, datamodule.num_classes, learning)
    check_train_steps(net, datamodule)
    scheduler = cfg.get("scheduler")
    module = SNNClassifier(
        net=net,
        encoder=build_encoder(cfg, datamodule),
        num_classes=datamodule.num_classes,
        optimizer=instantiate(cfg.optim),
        scheduler=instantiate(scheduler) if scheduler else None,
        loss=cfg.classifier.loss,
        loss_kwargs=cfg.classifier.get("loss_kwargs"),
        readout=cfg.classifier.readout,
        step_mode=learning.step_mode(cfg.step_mode),
        config=OmegaConf.to_container(cfg, resolve=True),
        learning=learning,
    )
    return datamodule, module

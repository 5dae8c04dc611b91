"""Build a run's data module and LightningModule from its config (training and evaluation share this)."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf
from torch import nn

from snnlab.data.base import SNNDataModule
from snnlab.encoders import create_encoder
from snnlab.functional import set_backend, set_step_mode
from snnlab.instantiate import instantiate
from snnlab.models import create_model, factories_from_config
from snnlab.training.module import SNNClassifier


def build_model(cfg: DictConfig, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """The network of ``cfg``: built in step mode ``m``, then switched to ``cfg.step_mode`` and ``cfg.backend``."""
    readout = cfg.classifier
    outputs = num_classes * readout.votes if readout.readout == "voting" else num_classes
    model_kwargs = {k: v for k, v in OmegaConf.to_container(cfg.model, resolve=True).items() if k != "name"}
    layer_cfg = {g: OmegaConf.to_container(cfg[g], resolve=True) for g in ("neuron", "norm", "dropout")}
    net = create_model(
        cfg.model.name,
        input_shape=tuple(input_shape),
        num_classes=outputs,
        spiking_head=readout.spiking_head,
        **model_kwargs,
        **factories_from_config(**layer_cfg, T=cfg.T, backend=cfg.backend),
    )
    set_step_mode(net, cfg.step_mode)
    set_backend(net, cfg.backend)
    return net


def build(cfg: DictConfig) -> tuple[SNNDataModule, SNNClassifier]:
    """Data module and classifier of a run; the classifier carries the resolved ``cfg`` into checkpoints."""
    datamodule: SNNDataModule = instantiate(cfg.data)
    net = build_model(cfg, datamodule.input_shape, datamodule.num_classes)
    scheduler = cfg.get("scheduler")
    module = SNNClassifier(
        net=net,
        encoder=None if datamodule.time_first else create_encoder(cfg.encoder.name, cfg.T),
        num_classes=datamodule.num_classes,
        optimizer=instantiate(cfg.optim),
        scheduler=instantiate(scheduler) if scheduler else None,
        loss=cfg.classifier.loss,
        readout=cfg.classifier.readout,
        step_mode=cfg.step_mode,
        config=OmegaConf.to_container(cfg, resolve=True),
    )
    return datamodule, module

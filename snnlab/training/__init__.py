"""Training: the LightningModule, config validation, building a run, and the train/evaluate entry points."""

from snnlab.training.build import build, build_model
from snnlab.training.module import SNNClassifier
from snnlab.training.run import evaluate, train
from snnlab.training.validate import ConfigError, validate_config

__all__ = ["ConfigError", "SNNClassifier", "build", "build_model", "evaluate", "train", "validate_config"]

"""Training: the LightningModule, building a run from its config, and the train/evaluate entry points."""

from snnlab.training.build import build, build_model
from snnlab.training.module import SNNClassifier
from snnlab.training.run import evaluate, train

__all__ = ["SNNClassifier", "build", "build_model", "evaluate", "train"]

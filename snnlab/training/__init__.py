"""Training, by concern (each folder imports only the ones before it):

* :mod:`~snnlab.training.module`: the LightningModule (``SNNClassifier``), learning modes, losses, readouts, schedules;
* :mod:`~snnlab.training.callbacks`: Lightning callbacks (energy, throughput, the model table);
* :mod:`~snnlab.training.reports`: what a run writes for people (``summary.json``, curves, firing-rate plots);
* :mod:`~snnlab.training.run`: a run's lifecycle: build, check, fit/test, resume and preemption, reading it back;
* :mod:`~snnlab.training.tools`: the after-run tools: ``inspect``, ``export``, ``plot``.
"""

from snnlab.training.module.classifier import SNNClassifier
from snnlab.training.run.build import build, build_model
from snnlab.training.run.evaluation import evaluate
from snnlab.training.run.lifecycle import run_training

__all__ = ["SNNClassifier", "build", "build_model", "evaluate", "run_training"]

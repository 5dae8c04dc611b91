"""The run passes what components need: per-step scores to a per-step loss (TET), the data's normalisation to
the encoders, and the ``snnlab`` command exposes ``inspect`` and ``list``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from fake_datasets import skip_cifar_md5, write_cifar
from training_helpers import compose_run

from snnlab.training import build, run_training


def test_tet_trains_end_to_end(tmp_path: Path) -> None:
    overrides = ["++classifier.loss={_target_: tet, lamb: 0.05, phi: 1.0}", "debug=fdr"]
    loss = run_training(compose_run(tmp_path, [*overrides, "optimized_metric=train/loss"]))
    assert loss > 0


def test_a_per_step_loss_gets_each_steps_scores(tmp_path: Path) -> None:
    overrides = ["classifier.loss={_target_: tet}", "classifier.readout={_target_: voting}", "T=3"]
    _, module = build(compose_run(tmp_path, overrides))
    assert module.net(torch.rand(3, 4, 1, 8, 8)).shape[-1] == 100  # 10 votes per class
    seen: dict = {}
    step_scores = module.readout.step_scores

    def spy(out_seq: torch.Tensor) -> torch.Tensor:
        seen["shape"] = tuple(step_scores(out_seq).shape)
        return step_scores(out_seq)

    module.readout.step_scores = spy
    module.compute_loss((torch.rand(4, 1, 8, 8), torch.zeros(4, dtype=torch.long)))
    assert seen["shape"] == (3, 4, 10)  # [T, B, classes] after the voting readout of each step


def test_poisson_gets_the_data_normalisation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_cifar(tmp_path)
    skip_cifar_md5(monkeypatch)
    cifar = ["data=cifar10", f"paths.data_dir={tmp_path}", "data.num_workers=0", "model=mlp", "model.hidden=[8]"]
    datamodule, module = build(compose_run(tmp_path / "o", [*cifar, "encoder=poisson"]))
    assert module.encoder.mean.tolist() == pytest.approx(list(datamodule.mean))
    _, module = build(compose_run(tmp_path / "p", ["encoder=poisson"]))
    assert module.encoder.mean is None  # digits are raw intensities already


@pytest.mark.slow
def test_cli_inspect_and_list() -> None:
    run = [sys.executable, "-m", "snnlab"]
    out = subprocess.run(
        [*run, "inspect", "experiment=sew_dvsgesture", "T=2", "data.T_train=2", "--json"],
        capture_output=True,
        text=True,
    )
    info = json.loads(out.stdout)  # (T=2 with the recipe's T_train=12 would be refused, as in training)
    assert info["params"] == 130426 and info["T"] == 2
    out = subprocess.run([*run, "inspect", "model=mlp"], capture_output=True, text=True, check=True).stdout
    assert "parameters:" in out
    out = subprocess.run([*run, "list"], capture_output=True, text=True, check=True).stdout
    assert "surrogate" in out and "sew_resnet" in out

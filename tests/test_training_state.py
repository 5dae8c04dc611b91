"""The classifier resets every stateful module at the start of each step, in every stage."""

from __future__ import annotations

from pathlib import Path

import lightning
import pytest
import torch
from training_helpers import compose_run

from snnlab.functional import reset_net
from snnlab.training import build

STATEFUL = ["neuron=lif", "norm=bntt", "dropout=dropout"]


@pytest.mark.slow
@pytest.mark.parametrize("step_mode", ["m", "s"])
def test_every_stage_survives_changing_batch_sizes(tmp_path: Path, step_mode: str) -> None:
    # digits: 1437 train → 1293/144 train/val, 360 test; batch 100 leaves short last batches everywhere.
    cfg = compose_run(tmp_path, [*STATEFUL, f"step_mode={step_mode}", "data.batch_size=100"])
    datamodule, module = build(cfg)
    trainer = lightning.Trainer(
        max_epochs=1,
        limit_train_batches=13,  # 12 full batches and the short one
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, datamodule=datamodule)  # val: 100 + 44
    trainer.test(module, datamodule=datamodule, verbose=False)  # 100, 100, 100, 60
    preds = trainer.predict(module, datamodule=datamodule)
    assert [len(p) for p in preds] == [100, 100, 100, 60]


def test_stale_state_would_fail_without_reset(tmp_path: Path) -> None:
    _, module = build(compose_run(tmp_path, STATEFUL))
    module.eval()
    module(torch.rand(4, 1, 8, 8))
    with pytest.raises(RuntimeError, match="reset"):
        module(torch.rand(3, 1, 8, 8))
    reset_net(module.net)
    assert module(torch.rand(3, 1, 8, 8)).shape == (3, 10)

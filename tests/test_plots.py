"""Run plots (firing rates, rasters) and the multirun summary of scripts/collect_results.py."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import matplotlib.image
import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf
from training_helpers import compose_run

from snnlab.models import create_model
from snnlab.training.reports.plots import layer_labels, plot_firing_rates, plot_raster
from snnlab.training.run.build import build
from snnlab.training.tools.plot_run import plot_run

ROOT = Path(__file__).resolve().parents[1]


def _collect_results() -> ModuleType:
    """scripts/collect_results.py as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("collect_results", ROOT / "scripts" / "collect_results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_layer_labels_name_the_feeding_layer() -> None:
    net = create_model("cnn", input_shape=(1, 8, 8), num_classes=3, channels=(4, 6), hidden=5)
    assert list(layer_labels(net).values()) == ["conv1 (4 ch) → LIF", "conv2 (6 ch) → LIF", "fc1 (5) → LIF"]


def test_plots_write_images(tmp_path: Path) -> None:
    spikes = {"0.2": (torch.rand(4, 3, 2, 5, 5) > 0.7).float(), "5": (torch.rand(4, 3, 300) > 0.9).float()}
    rates = {name: float(s.mean()) for name, s in spikes.items()}
    for path in (
        plot_firing_rates(rates, tmp_path / "rates.png", {"0.2": "conv1 → LIF"}),
        plot_raster(spikes, tmp_path / "raster.png", samples=2, max_neurons=40),
    ):
        height, width, _ = matplotlib.image.imread(path).shape
        assert height > 100 and width > 100


def test_plot_run_on_a_run_folder(tmp_path: Path) -> None:
    """A run folder with config and best checkpoint, without summary.json: rates come from the samples."""
    cfg = compose_run(tmp_path)
    _, module = build(cfg)
    (tmp_path / "checkpoints").mkdir()
    state = {"state_dict": module.state_dict(), "snnlab_config": OmegaConf.to_container(cfg, resolve=True)}
    torch.save(state, tmp_path / "checkpoints" / "best-epoch000.ckpt")
    written = plot_run(tmp_path, tmp_path / "plots", samples=2)
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["firing_rates.png", "raster.png"]
    assert all(p.is_file() for p in written.values())


def _write_runs(root: Path) -> None:
    """2 models × 2 seeds, T=2 in every run; test_acc = base + seed / 100."""
    for i, (model, seed) in enumerate([("cnn", 0), ("cnn", 1), ("mlp", 0), ("mlp", 1)]):
        run = root / str(i)
        run.mkdir(parents=True)
        acc = {"cnn": 0.9, "mlp": 0.8}[model] + seed / 100
        overrides = [f"model={model}", f"seed={seed}", "T=2"]
        (run / "summary.json").write_text(json.dumps({"test_acc": acc, "overrides": overrides}))


def test_collect_results_groups_seeds_and_splits_overrides(tmp_path: Path) -> None:
    script = _collect_results()
    _write_runs(tmp_path)
    df = script.collect(tmp_path)
    assert script.split_overrides(df) == (["model", "seed"], {"T": "2"})
    stats = script.group(df).set_index("setting")
    assert list(stats.index) == ["model=cnn", "model=mlp"]
    assert stats.loc["model=cnn", "mean"] == pytest.approx(0.905)
    assert stats.loc["model=mlp", "std"] == pytest.approx(0.01 / 2**0.5)  # sample std of 0.80, 0.81
    assert (stats["n"] == 2).all()
    script.main([str(tmp_path)])
    grouped = pd.read_csv(tmp_path / "results_grouped.csv")
    assert grouped["setting"].tolist() == ["model=cnn", "model=mlp"]
    assert len(pd.read_csv(tmp_path / "results.csv")) == 4 and (tmp_path / "results.png").is_file()


def test_collect_results_without_varying_overrides(tmp_path: Path) -> None:
    script = _collect_results()
    (tmp_path / "0").mkdir()
    (tmp_path / "0" / "summary.json").write_text(json.dumps({"test_acc": 0.5, "overrides": ["T=2"]}))
    stats = script.group(script.collect(tmp_path))
    assert stats[["setting", "mean", "std", "n"]].values.tolist() == [["all runs", 0.5, 0.0, 1]]

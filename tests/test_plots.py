"""Run plots (firing rates, rasters, rates over time) and the multirun summary of scripts/collect_results.py."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf
from training_helpers import compose_run

from snnlab.models import BN, create_model
from snnlab.training.reports.plots import layer_labels, plot_firing_rates, plot_raster, raster_figure
from snnlab.training.reports.rates_over_time import (
    pick_traces,
    plot_rates_over_time,
    rates_over_time_figure,
    rates_per_step,
)
from snnlab.training.run.build import build
from snnlab.training.tools.plot_run import plot_run, record_activity

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


def test_deep_net_rasters_and_rates_over_time(tmp_path: Path) -> None:
    """10 spiking layers, T=16: the figures are written; one rate line per layer with a point per step, membrane
    traces of the chosen layer, x ticks thinned."""
    torch.manual_seed(0)
    net = create_model("mlp", input_shape=(1, 6, 6), num_classes=3, hidden=(12,) * 10, norm=BN())
    spikes, layer, v = record_activity(net, net, torch.rand(16, 4, 1, 6, 6) * 3)
    assert len(spikes) == 10 and layer == list(spikes)[5] and v.shape == spikes[layer].shape == (16, 4, 12)
    assert not dict(net.named_modules())[layer].store_v_seq  # restored
    labels = layer_labels(net)
    for path in (
        plot_raster(spikes, tmp_path / "raster.png", labels),
        plot_rates_over_time(spikes, tmp_path / "rates_over_time.png", labels, layer, v),
    ):
        assert path.is_file()
    fig = rates_over_time_figure(spikes, labels, layer, v, traces=3)
    lines = fig.axes[0].get_lines()
    assert len(lines) == 10 and all(len(line.get_xdata()) == 16 for line in lines)
    for line, rate in zip(lines, rates_per_step(spikes).values()):
        assert line.get_ydata() == pytest.approx(rate)
    assert 1 <= len(fig.axes) - 1 <= 3  # a panel per traced neuron
    traced = fig.axes[1].get_lines()[0].get_ydata()
    assert traced == pytest.approx(v[:, 0].flatten(1)[:, int(fig.axes[1].get_ylabel().split()[1])].numpy())
    raster = raster_figure(spikes, labels, samples=2)
    panels = [ax for ax in raster.axes if ax.images]
    assert len(panels) == 20 and len(panels[-1].get_xticks()) <= 8
    plt.close("all")


def test_traced_neurons_span_the_activity() -> None:
    """The most and the least spiking neuron, then the silent one closest to firing."""
    spikes, v = np.zeros((4, 6)), np.arange(24.0).reshape(4, 6)
    spikes[:, 2], spikes[0, 4], spikes[:2, 1] = 1, 1, 1
    assert pick_traces(spikes, v, 3).tolist() == [2, 4, 5]
    assert pick_traces(np.zeros((4, 6)), v, 2).tolist() == [5, 4]


def test_raster_of_a_very_deep_net_shows_evenly_spaced_layers() -> None:
    spikes = {str(i): torch.zeros(4, 2, 5) for i in range(30)}
    fig = raster_figure(spikes, max_layers=6, samples=1)
    headers = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert [h.split("[")[1].split("]")[0] for h in headers if "[" in h] == ["0", "6", "12", "17", "23", "29"]
    plt.close(fig)


def test_plot_run_on_a_run_folder(tmp_path: Path) -> None:
    """A run folder with config and best checkpoint, without summary.json: rates come from the samples."""
    cfg = compose_run(tmp_path)
    _, module = build(cfg)
    (tmp_path / "checkpoints").mkdir()
    state = {"state_dict": module.state_dict(), "snnlab_config": OmegaConf.to_container(cfg, resolve=True)}
    torch.save(state, tmp_path / "checkpoints" / "best-epoch000.ckpt")
    written = plot_run(tmp_path, tmp_path / "plots", samples=2)
    names = ["firing_rates.png", "raster.png", "rates_over_time.png"]
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == names
    assert all(p.is_file() for p in written.values())


def _write_runs(root: Path, statuses: dict[int, str] | None = None) -> None:
    """A multirun folder: 2 models × 2 seeds, T=2 in every run; test_acc = base + seed / 100."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "multirun.yaml").write_text("hydra: {}\n")
    for i, (model, seed) in enumerate([("cnn", 0), ("cnn", 1), ("mlp", 0), ("mlp", 1)]):
        run = root / str(i)
        run.mkdir(parents=True)
        acc = {"cnn": 0.9, "mlp": 0.8}[model] + seed / 100
        overrides = [f"model={model}", f"seed={seed}", "T=2"]
        status = (statuses or {}).get(i, "finished")
        (run / "summary.json").write_text(json.dumps({"status": status, "test_acc": acc, "overrides": overrides}))


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


def test_collect_results_keeps_unfinished_runs_out_of_the_means(tmp_path: Path) -> None:
    """An interrupted run and a job without summary.json are listed with their status, not averaged."""
    script = _collect_results()
    _write_runs(tmp_path, {1: "interrupted (SIGTERM)"})
    (tmp_path / "4" / ".hydra").mkdir(parents=True)
    (tmp_path / "4" / ".hydra" / "overrides.yaml").write_text("- model=mlp\n- seed=2\n- T=2\n")
    df = script.collect(tmp_path)
    assert df["run"].tolist() == ["0", "1", "2", "3", "4"]
    assert df["status"].tolist()[1] == "interrupted (SIGTERM)" and df["status"].tolist()[4] == script.NO_SUMMARY
    stats = script.group(df).set_index("setting")
    assert stats.loc["model=cnn", ["mean", "n"]].tolist() == [pytest.approx(0.9), 1]
    assert pd.isna(stats.loc["model=cnn", "std"]) and stats.loc["model=mlp", "n"] == 2
    text = script.tables(df, script.group(df))
    assert "2 of 5 runs did not finish" in text and "± 0" not in text
    fig = script.figure(df)
    ax, numbers = fig.axes
    assert 0.0 <= ax.get_xlim()[0] < ax.get_xlim()[1] <= 1.0
    assert [t.get_text() for t in numbers.get_yticklabels()] == ["0.9000 (n=1)", "0.8050 ± 0.0071 (n=2)"]
    plt.close(fig)


def test_collect_results_accuracy_axis_stays_within_0_1(tmp_path: Path) -> None:
    script = _collect_results()
    (tmp_path / "multirun.yaml").write_text("hydra: {}\n")
    for i, acc in enumerate([0.05, 0.99, 0.5]):
        (tmp_path / str(i)).mkdir()
        summary = {"status": "finished", "test_acc": acc, "overrides": [f"seed={i}"]}
        (tmp_path / str(i) / "summary.json").write_text(json.dumps(summary))
    fig = script.figure(script.collect(tmp_path))
    assert fig.axes[0].get_xlim() == (0.0, 1.0)
    plt.close(fig)


def test_collect_results_refuses_a_folder_that_is_not_a_run_or_multirun(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder holding unrelated runs (no multirun.yaml) is refused with one line and nothing is written."""
    script = _collect_results()
    for name in ("a", "b/c"):
        (tmp_path / name).mkdir(parents=True)
        (tmp_path / name / "summary.json").write_text(json.dumps({"test_acc": 0.5, "overrides": []}))
    for path in (tmp_path, tmp_path / "missing"):
        with pytest.raises(SystemExit) as exit_info:
            script.main([str(path)])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and str(path) in err and "multirun.yaml" in err
    assert not list(tmp_path.glob("results*"))


def test_collect_results_of_one_run_folder(tmp_path: Path) -> None:
    script = _collect_results()
    (tmp_path / "summary.json").write_text(json.dumps({"status": "finished", "test_acc": 0.5, "overrides": ["T=2"]}))
    stats = script.group(script.collect(tmp_path))
    assert stats[["setting", "mean", "n"]].values.tolist() == [["all runs", 0.5, 1]]

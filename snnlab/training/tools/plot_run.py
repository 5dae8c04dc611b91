"""``snnlab plot RUN_DIR``: a finished run's firing rates and spike rasters, drawn from its best checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from snnlab.functional import reset_net
from snnlab.monitor import SpikeMonitor
from snnlab.training.reports.plots import layer_labels, plot_firing_rates, plot_raster
from snnlab.training.run.run_files import load_run


def plot_run(run_dir: str | Path, out_dir: str | Path | None = None, samples: int = 3) -> dict[str, Path]:
    """``firing_rates.png`` and ``raster.png`` of a finished run (best checkpoint), written to ``out_dir``.

    The rates are the test-set rates from ``summary.json`` (else those of the plotted samples); the rasters
    show the first ``samples`` test samples.
    """
    run_dir = Path(run_dir)
    out_dir = Path(out_dir or run_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    datamodule, module, _ = load_run(run_dir)
    datamodule.setup("test")
    x = next(iter(datamodule.test_dataloader()))[0]
    x = x[:, :samples] if datamodule.time_first else x[:samples]
    with SpikeMonitor(module.net, store=True) as monitor, torch.no_grad():
        reset_net(module.net)
        module(x)
    join = torch.stack if module.step_mode == "s" else torch.cat
    spikes = {name: join(records) for name, records in monitor.records.items()}
    summary_path = run_dir / "summary.json"
    rates = json.loads(summary_path.read_text()).get("firing_rates") if summary_path.is_file() else None
    labels = layer_labels(module.net)
    return {
        "firing_rates": plot_firing_rates(
            rates or monitor.firing_rates(), out_dir / "firing_rates.png", labels, title=f"firing rates: {run_dir.name}"
        ),
        "raster": plot_raster(spikes, out_dir / "raster.png", labels, samples=samples),
    }

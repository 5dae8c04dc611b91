"""``snnlab plot RUN_DIR``: a finished run's firing rates, spike rasters and activity over time, drawn from its best
checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from snnlab.functional import reset_net
from snnlab.monitor import SpikeMonitor
from snnlab.training.reports.plots import layer_labels, plot_firing_rates, plot_raster
from snnlab.training.reports.rates_over_time import plot_rates_over_time
from snnlab.training.run.run_files import load_run


def record_activity(
    net: nn.Module, forward: nn.Module, x: torch.Tensor, layer: str | None = None
) -> tuple[dict[str, torch.Tensor], str, torch.Tensor | None]:
    """Spikes ``{layer: [T, B, ...]}`` of every spiking layer of ``net`` for one ``forward(x)``, the name of the
    neuron ``layer`` (default: the middle one) and its membrane potential ``[T, B, ...]`` after each step."""
    modules = dict(net.named_modules())
    with SpikeMonitor(net, store=True) as monitor:
        names = monitor.layers
        layer = layer if layer is not None else names[len(names) // 2]
        if layer not in names:
            raise ValueError(f"layer={layer!r}: not a spiking layer of this network; one of {', '.join(names)}")
        neuron, stored = modules[layer], modules[layer].store_v_seq
        neuron.store_v_seq = True
        try:
            with SpikeMonitor(net, record_v=True, layer_filter=lambda n, _: n == layer) as v_monitor, torch.no_grad():
                reset_net(net)
                forward(x)
        finally:
            neuron.store_v_seq = stored
    join = torch.stack if neuron.step_mode == "s" else torch.cat
    v = v_monitor.v_records[layer]
    return {n: join(r) for n, r in monitor.records.items()}, layer, join(v) if v else None


def plot_run(
    run_dir: str | Path, out_dir: str | Path | None = None, samples: int = 3, layer: str | None = None
) -> dict[str, Path]:
    """``firing_rates.png``, ``raster.png`` and ``rates_over_time.png`` of a finished run (best checkpoint),
    written to ``out_dir``.

    The rates are the test-set rates from ``summary.json`` (else those of the plotted samples); the rasters and
    the rates over time show the first ``samples`` test samples, the membrane traces the neuron ``layer``
    (default: the middle spiking layer).
    """
    run_dir = Path(run_dir)
    out_dir = Path(out_dir or run_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    datamodule, module, _ = load_run(run_dir)
    datamodule.setup("test")
    x = next(iter(datamodule.test_dataloader()))[0]
    x = x[:, :samples] if datamodule.time_first else x[:samples]
    spikes, layer, v = record_activity(module.net, module, x, layer)
    summary_path = run_dir / "summary.json"
    rates = json.loads(summary_path.read_text()).get("firing_rates") if summary_path.is_file() else None
    labels = layer_labels(module.net)
    sample_rates = {name: float(s.float().mean()) for name, s in spikes.items()}
    threshold = float(getattr(dict(module.net.named_modules())[layer], "v_threshold", 1.0))
    return {
        "firing_rates": plot_firing_rates(
            rates or sample_rates, out_dir / "firing_rates.png", labels, title=f"firing rates: {run_dir.name}"
        ),
        "raster": plot_raster(spikes, out_dir / "raster.png", labels, samples=samples),
        "rates_over_time": plot_rates_over_time(spikes, out_dir / "rates_over_time.png", labels, layer, v, threshold),
    }

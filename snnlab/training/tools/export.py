"""Load a finished run's trained network, and write it as a NIR file."""

from __future__ import annotations

from pathlib import Path

from snnlab.export.nir import import_nir, to_nir
from snnlab.training.run.run_files import load_run


def export_run(
    run_dir: str | Path, out_path: str | Path, approximate: bool = False, checkpoint: str = "best", dt: float = 1.0
) -> Path:
    """Write the network of a finished run as a ``.nir`` file (see :func:`snnlab.export.nir.to_nir`).

    The graph takes one time step of the encoded input (``datamodule.input_shape``); the encoder and the
    readout stay outside it.  Returns ``out_path``.
    """
    nir = import_nir()
    datamodule, module, _ = load_run(run_dir, checkpoint)
    graph = to_nir(module.net, datamodule.input_shape, dt=dt, approximate=approximate)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    nir.write(out_path, graph)
    return out_path

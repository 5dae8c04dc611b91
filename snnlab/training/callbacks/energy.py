"""A Lightning callback that measures energy proxies on the test set (:mod:`snnlab.metrics.energy`): NeuroBench's
synaptic operations and the spiking-transformer papers' energy estimate."""

from __future__ import annotations

from typing import Any

from lightning import Callback, LightningModule, Trainer

from snnlab.metrics.energy import E_AC_PJ, E_MAC_PJ, EnergyMeter


class EnergyCallback(Callback):
    """Hooks an :class:`~snnlab.metrics.EnergyMeter` on ``pl_module.net`` during ``trainer.test``.

    At the end of the test epoch it logs, per sample, ``test/synops`` (effective ACs + MACs),
    ``test/synops_acs``, ``test/synops_macs``, ``test/synops_dense``, ``test/sparsity``,
    ``test/footprint_bytes`` and ``test/energy_mj`` (the paper-style estimate, with ``e_ac_pj`` and ``e_mac_pj``
    per operation), and keeps the full report (by layer too) in :attr:`report` for ``summary.json``.
    """

    def __init__(self, e_ac_pj: float = E_AC_PJ, e_mac_pj: float = E_MAC_PJ) -> None:
        self.e_ac_pj, self.e_mac_pj = float(e_ac_pj), float(e_mac_pj)
        self.meter: EnergyMeter | None = None
        self.report: dict[str, Any] = {}

    def on_test_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.meter = EnergyMeter(pl_module.net, self.e_ac_pj, self.e_mac_pj)

    def on_test_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if self.meter is not None:
            self.meter.add_samples(len(batch[1]))  # labels: one per sample, also for time-first inputs

    def on_test_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.meter is None:
            return
        self.meter.remove()
        self.report = self.meter.report()
        self.meter = None
        synops = self.report["synops"]
        values = {
            "test/synops": synops["effective"],
            "test/synops_acs": synops["effective_acs"],
            "test/synops_macs": synops["effective_macs"],
            "test/synops_dense": synops["dense"],
            "test/sparsity": self.report["activation_sparsity"],
            "test/footprint_bytes": float(self.report["footprint_bytes"]),
            "test/energy_mj": self.report["paper_energy"]["mj_per_sample"],
        }
        pl_module.log_dict(values, sync_dist=True)

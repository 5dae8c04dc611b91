"""Shared pytest hooks.

``SNNLAB_REQUIRE_EXTRAS=1`` (set by ``.ci/run``): a test, or a test module, skipped because an optional extra is
not installed fails instead, so CI cannot silently stop running the NIR, NeuroBench, SpikingJelly, Optuna or
submitit tests.
A skip counts as "missing extra" when its reason names an extra (``... the test-export extra ...``) or when it is
``pytest.importorskip``'s default reason for one of ``EXTRA_MODULES``.  GPU skips (CUDA, CuPy, nvcc) are untouched.
"""

from __future__ import annotations

import os
import re
import sys

import pytest

REQUIRE_EXTRAS = os.environ.get("SNNLAB_REQUIRE_EXTRAS", "").strip() not in ("", "0")
# top-level modules of the extras that `make install` installs (dev: export, sweep, cluster, loggers, test-export,
# test-energy, test-sj), and numba, a hard dependency whose tests importorskip it
EXTRA_MODULES = frozenset(
    {"nir", "nirtorch", "snntorch", "norse", "neurobench", "optuna", "hydra_plugins", "submitit", "spikingjelly"}
    | {"wandb", "mlflow", "numba"}
)
# extras that cannot install on this Python: their tests may skip (test-sj: spikingjelly 2.0.0 needs Python >= 3.11)
UNINSTALLABLE = ("test-sj", "spikingjelly") if sys.version_info < (3, 11) else ()
_DEFAULT_REASON = re.compile(r"could not import '([\w.]+)'")
_NAMES_AN_EXTRA = re.compile(r"\bextras?\b")


def missing_extra(reason: str) -> bool:
    """Whether a skip ``reason`` is a missing optional extra."""
    if any(name in reason for name in UNINSTALLABLE):
        return False
    if _NAMES_AN_EXTRA.search(reason):
        return True
    match = _DEFAULT_REASON.search(reason)
    return bool(match) and match.group(1).split(".")[0] in EXTRA_MODULES


def _fail_missing_extra(report: pytest.TestReport | pytest.CollectReport) -> None:
    if not (REQUIRE_EXTRAS and report.skipped and isinstance(report.longrepr, tuple)):
        return
    reason = str(report.longrepr[2]).removeprefix("Skipped: ")
    if missing_extra(reason):
        report.outcome = "failed"
        report.longrepr = (
            f"SNNLAB_REQUIRE_EXTRAS=1 and this was skipped for a missing extra: {reason}\n"
            "install them: pip install -e '.[dev]' (or make install)"
        )


def pytest_report_header() -> str | None:
    return "SNNLAB_REQUIRE_EXTRAS=1: a skip for a missing extra is a failure" if REQUIRE_EXTRAS else None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> pytest.TestReport:
    report = yield
    _fail_missing_extra(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> pytest.CollectReport:
    report = yield
    _fail_missing_extra(report)
    return report

"""Every component a shipped config names is registered under the kind its key selects, and ``snnlab list``
shows every kind, with its names and the config spelling that chooses one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from omegaconf import OmegaConf

import snnlab.training  # noqa: F401  (registers the losses, readouts and learning modes)
from snnlab import registry
from snnlab.cli.commands import list_command
from snnlab.conf import CONFIG_DIR
from snnlab.instantiate import key_kind


def short_targets(node: Any, kind: str) -> Iterator[tuple[str, str]]:
    """``(kind, name)`` of every short ``_target_`` in ``node``: the kind named by the key holding a node."""
    if isinstance(node, dict):
        target = node.get("_target_")
        if isinstance(target, str) and "." not in target:
            yield kind, target
        for key, value in node.items():
            yield from short_targets(value, key_kind(str(key)) or str(key))


CONFIG_TARGETS = sorted(
    {
        (kind, name)
        for file in CONFIG_DIR.rglob("*.yaml")
        for kind, name in short_targets(
            OmegaConf.to_container(OmegaConf.load(file)), ("", *file.parent.relative_to(CONFIG_DIR).parts)[-1]
        )
    }
)


def test_the_configs_use_nested_component_nodes() -> None:
    kinds = {kind for kind, _ in CONFIG_TARGETS}
    assert {"surrogate", "loss", "readout", "neuron", "model", "data"} <= kinds


def test_list_shows_every_kind_and_every_config_component(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")  # wide enough that no cell wraps
    list_command([])
    rows = {line.split("│")[1].strip(): line for line in capsys.readouterr().out.splitlines() if line.count("│") > 3}
    for kind in registry.kinds():
        assert kind in rows, f"snnlab list does not show the kind {kind!r}"
        assert ", ".join(registry.names(kind)) in rows[kind]
    for kind, name in CONFIG_TARGETS:
        assert registry.get(kind, name) is not None  # resolves (an unknown name raises, listing the valid ones)
        assert name in rows[kind].split("│")[2].replace(",", " ").split()
    spellings = {"surrogate": "neuron.surrogate={_target_: NAME", "loss": "classifier.loss={_target_: NAME"}
    spellings |= {"readout": "classifier.readout={_target_: NAME", "backend": "backend=NAME", "neuron": "neuron=OPTION"}
    for kind, spelling in spellings.items():
        assert spelling in rows[kind]

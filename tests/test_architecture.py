"""The layering of snnlab's parts: each part imports only parts below it, so there is no cycle.

From the bottom: the registry, the math (ops, surrogates, neuron dynamics), the backends (kernels), the
step-mode bases, then layers / neurons / encoders, whole-network helpers, models, data, training and the
command line.  The package's ``__init__`` and ``__main__`` are the façade on top and may import anything.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "snnlab"
LAYERS: list[tuple[str, ...]] = [
    ("registry", "conf"),
    ("math",),
    ("kernels",),
    ("base",),
    ("layers", "neurons", "encoders"),
    ("functional", "monitor"),
    ("models",),
    ("export", "metrics"),
    ("instantiate", "data"),
    ("training",),
    ("cli",),
]
RANK = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}
FACADE = {"__init__", "__main__"}


def part_of(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def imported_parts(path: Path) -> set[str]:
    """The snnlab parts a module imports, at any depth of its code (function-level imports included)."""
    parts = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            names = [f"{base}.{alias.name}" for alias in node.names] if base == "snnlab" else [base]
        else:
            continue
        parts |= {name.split(".")[1] for name in names if name.startswith("snnlab.")}
        if any(name == "snnlab" for name in names):
            parts.add("__init__")
    return parts


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if part_of(p) not in FACADE)


def test_every_part_has_a_layer() -> None:
    assert {part_of(p) for p in MODULES} == set(RANK)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path: Path) -> None:
    part = part_of(path)
    for other in imported_parts(path) - {part}:
        assert other in RANK, f"{path.name} imports the façade snnlab.{other}; import the part itself"
        assert RANK[other] < RANK[part], (
            f"snnlab.{part} ({path.relative_to(PACKAGE)}) imports snnlab.{other}, which is not below it: "
            f"layers from the bottom are {LAYERS}"
        )


def test_the_check_sees_violations(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from snnlab.training import build\nfrom snnlab import models, registry\n")
    assert imported_parts(module) == {"training", "models", "registry"}

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
    ("registry", "validate", "conf"),
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
SUBLAYERS: dict[str, list[tuple[str, ...]]] = {
    "training": [("module",), ("callbacks",), ("reports",), ("run",), ("tools",)],
}
"""Packages whose sub-packages are layered too, from the bottom."""


def part_of(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def imported_modules(path: Path) -> set[str]:
    """The snnlab modules a module imports, at any depth of its code (function-level imports included)."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            names = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        modules |= {name for name in names if name.startswith("snnlab.") or name == "snnlab"}
    return modules


def imported_parts(path: Path) -> set[str]:
    """The snnlab parts (top-level modules or packages) a module imports."""
    return {"__init__" if name == "snnlab" else name.split(".")[1] for name in imported_modules(path)}


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


@pytest.mark.parametrize("package", sorted(SUBLAYERS))
def test_subpackages_point_down(package: str) -> None:
    rank = {sub: r for r, subs in enumerate(SUBLAYERS[package]) for sub in subs}
    root = PACKAGE / package
    assert {p.name for p in root.iterdir() if p.is_dir() and p.name != "__pycache__"} == set(rank)
    for path in root.glob("*/*.py"):
        sub = path.relative_to(root).parts[0]
        for name in imported_modules(path):
            parts = name.split(".")
            if len(parts) > 2 and parts[1] == package and parts[2] in rank:
                assert rank[parts[2]] <= rank[sub], (
                    f"snnlab.{package}.{sub} ({path.name}) imports snnlab.{package}.{parts[2]}, which is not below "
                    f"it: layers from the bottom are {SUBLAYERS[package]}"
                )


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    return ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)


def import_graph() -> dict[str, set[str]]:
    """``module -> snnlab modules it imports`` (``from pkg import name`` counts as importing ``pkg.name`` when that
    is a module, else ``pkg``)."""
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in paths.items():
        targets = set()
        for imported in imported_modules(path):
            while imported not in paths and "." in imported:
                imported = imported.rsplit(".", 1)[0]
            if imported in paths and imported != name:
                targets.add(imported)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles among non-façade modules (strongly connected components of more than one module)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles_in_any_package() -> None:
    """No circle among modules, in any package (a package's ``__init__`` is its façade and may import anything)."""
    graph = import_graph()
    facades = {name for name in graph if (PACKAGE.parent / name.replace(".", "/")).is_dir()} | {"snnlab.__main__"}
    assert cycles({name: targets - facades for name, targets in graph.items() if name not in facades}) == []


def test_the_cycle_check_sees_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]

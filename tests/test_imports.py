"""No import circles in the package, counting every import statement (also those inside functions), and
every module imports on its own."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "goldenlayers"


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted((SRC / PACKAGE).rglob("*.py"))}


def imported_modules(name: str, path: Path) -> set[str]:
    """The package modules ``name`` imports anywhere in its file: ``from .x import y`` counts as the module
    ``x.y`` when that is a module, else as ``x``."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")[: len(name.split(".")) - node.level + (1 if is_package else 0)]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            targets = [f"{stem}.{alias.name}" if f"{stem}.{alias.name}" in MODULES else stem for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t in MODULES and t != name)
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` (as a path that returns to its start), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_no_import_circle_in_the_package():
    graph = {name: imported_modules(name, path) for name, path in MODULES.items()}
    assert sum(map(len, graph.values())) > 100, "the import graph looks empty: is the walk broken?"
    cycle = find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle)


# The package's layers (README, Design notes): a module imports only from its own layer or the ones below.
LAYERS = [
    {"__init__", "errors"},
    {"io", "caches", "chunks"},
    {"models", "data"},
    {"editors", "stats"},
    {"evaluate", "locate", "analysis", "plots", "publish", "record", "slurm_profile"},
    {"commands", "cli", "__main__", "config"},  # the entry points: the CLI and the workflow's config
]


def layer_of(name: str) -> int:
    part = name.split(".")[1] if "." in name else "__init__"
    layers = [i for i, members in enumerate(LAYERS) if part in members]
    assert layers, f"{name}: a new top-level module or package; add it to LAYERS (and to the README's Design notes)"
    return layers[0]


def test_packages_import_only_their_layer_or_below():
    upward = sorted(f"{name} -> {target}" for name, path in MODULES.items()
                    for target in imported_modules(name, path) if layer_of(target) > layer_of(name))
    assert not upward, "imports against the layering: " + ", ".join(upward)


def test_the_cycle_finder_finds_a_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_every_module_imports():
    for name in sorted(MODULES):
        if not name.endswith(".__main__"):  # importing __main__ runs the CLI
            importlib.import_module(name)


def test_cli_help_imports_no_heavy_module():
    """``goldenlayers --help`` builds every subcommand's parser: command modules keep torch, pandas, pyarrow
    and transformers inside ``run`` (commands/_common.py), so the help (and every rule's start) stays fast."""
    code = ("import sys; from goldenlayers.cli import build_parser; build_parser(); "
            "print([m for m in ('torch', 'pandas', 'pyarrow', 'transformers', 'numpy') if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout

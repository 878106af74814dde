"""The shape of src/bertner: no import cycle between its modules, small packages, small files.

Every import counts: at module level, under TYPE_CHECKING, or inside a function, since each is an arrow a
reader has to follow (issue 20). import-linter (pyproject.toml) checks the layers; this checks what layers
cannot: a cycle between two modules of one layer or package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src"
MAX_MODULES_PER_PACKAGE = 12
MAX_LINES_PER_FILE = 420
# cli/ is one module per subcommand (its README table); it grows with the commands, not with a concern.
LARGE_PACKAGES_ALLOWED = {"bertner.cli"}


def module_files(root: Path = SOURCE) -> dict[str, Path]:
    modules = {}
    for path in (root / "bertner").rglob("*.py"):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The modules of `known` that `name` imports, wherever in the file the import statement is."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()

    def nearest(target: str) -> str | None:
        while target and target not in known:
            target = target.rpartition(".")[0]
        return target or None

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            targets = [
                f"{module}.{alias.name}" if f"{module}.{alias.name}" in known else module for alias in node.names
            ]
        else:
            continue
        found.update(t for t in map(nearest, targets) if t is not None)
    # importing one's own package's __init__ is not an arrow back
    return {t for t in found if t != name and not name.startswith(t + ".")}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_planted_cycle_and_only_it(tmp_path: Path) -> None:
    package = tmp_path / "bertner"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("from bertner.sub import b\n")
    (package / "sub" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bertner import c\n"
    )
    (package / "c.py").write_text("def f():\n    from .sub.b import x\n")
    (package / "d.py").write_text("import bertner.a\n")
    known = module_files(tmp_path)
    graph = {name: imports_of(name, path, known) for name, path in known.items()}
    assert cycles(graph) == [["bertner.c", "bertner.sub.b"]]


def test_no_module_of_bertner_is_part_of_an_import_cycle() -> None:
    known = module_files()
    graph = {name: imports_of(name, path, known) for name, path in known.items()}
    assert cycles(graph) == []


@pytest.mark.parametrize("limit", [MAX_LINES_PER_FILE])
def test_no_source_file_outgrows_one_concern(limit: int) -> None:
    lengths = {str(path.relative_to(SOURCE)): len(path.read_text().splitlines()) for path in module_files().values()}
    assert {name: n for name, n in lengths.items() if n > limit} == {}


def test_no_package_holds_more_than_about_twelve_modules() -> None:
    counts: dict[str, int] = {}
    for name, path in module_files().items():
        if path.name != "__init__.py":
            counts[name.rpartition(".")[0]] = counts.get(name.rpartition(".")[0], 0) + 1
    large = {package: n for package, n in counts.items() if n > MAX_MODULES_PER_PACKAGE}
    assert set(large) <= LARGE_PACKAGES_ALLOWED, large

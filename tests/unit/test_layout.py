"""The layout's rules (README, "Layout"), read from the source with `ast`: which visn package
may import which, keyloop imports nothing of ours, main.py only visn.entry, no cycle between
visn's packages nor between the modules of any package of ours, and no module over about
400 lines outside tests and generated files.

A test of our own rather than import-linter: the rules are a dozen lines of data here, the
check needs the import statements inside functions too (the callables import their handlers
on first call), and it adds no dependency to pin (docs/decisions.md).
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = ("visn", "keyloop", "keyloop_sandbox", "devtools", "bench", "ops", "tests", "main")

# visn's packages, each with the packages it may import (besides itself). A layer imports
# only layers below it: contract at the bottom, entry and the operator commands at the top.
BELOW_SAGA = {"availability", "access", "records", "infra", "contract"}
MAY_IMPORT: dict[str, set[str]] = {
    "contract": set(),
    "infra": {"contract"},
    "records": {"infra", "contract"},
    "access": {"records", "infra", "contract"},
    "availability": {"access", "records", "infra", "contract"},
    "saga": BELOW_SAGA,
    "sync": BELOW_SAGA - {"access"},
    "entry": {"saga", "sync"} | BELOW_SAGA,
    "operator": {"saga", "sync"} | BELOW_SAGA,
    "__main__": {"operator", "saga", "sync"} | BELOW_SAGA,  # `python -m visn`
}
MAIN_MAY_IMPORT = {"entry"}

MAX_LINES = 400
# Outside the rule: tests, generated files (docs/schemas, docs/types), the npm tree.
NOT_MODULES = ("tests", "venv", "node_modules", "js", "dev", "docs", ".git")


def python_files(under: Path) -> Iterator[Path]:
    for path in sorted(under.rglob("*.py")):
        if not set(path.relative_to(ROOT).parts) & {"venv", "node_modules", "__pycache__"}:
            yield path


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> Iterator[tuple[int, str]]:
    """Every module an import statement of `path` names (also inside functions), absolute;
    `from visn import x` names `visn.x`."""
    package = module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                yield node.lineno, f"{module}.{alias.name}" if module in OURS else module


def visn_package(module: str) -> str | None:
    """`visn.saga.booking` -> `saga`; None outside visn (or visn itself)."""
    parts = module.split(".")
    return parts[1] if parts[0] == "visn" and len(parts) > 1 else None


def package_of(path: Path) -> str:
    parts = path.relative_to(ROOT / "visn").parts
    return parts[0] if len(parts) > 1 else parts[0].removesuffix(".py")


def visn_edges() -> dict[tuple[str, str], str]:
    """(importer, imported) package pairs of visn, each with one place that does it."""
    edges: dict[tuple[str, str], str] = {}
    for path in python_files(ROOT / "visn"):
        source = package_of(path)
        for line, module in imported(path):
            target = visn_package(module)
            if target is not None and target != source:
                edges.setdefault((source, target), f"{path.relative_to(ROOT)}:{line}")
    return edges


def breaches(edges: dict[tuple[str, str], str]) -> list[str]:
    return [
        f"{where}: visn.{source} may not import visn.{target}"
        for (source, target), where in sorted(edges.items())
        if target not in MAY_IMPORT.get(source, set())
    ]


def cycle(edges: set[tuple[str, str]]) -> list[str] | None:
    graph: dict[str, set[str]] = {}
    for source, target in edges:
        graph.setdefault(source, set()).add(target)
    done: set[str] = set()

    def visit(node: str, trail: list[str]) -> list[str] | None:
        if node in trail:
            return [*trail[trail.index(node) :], node]
        if node in done:
            return None
        for after in sorted(graph.get(node, ())):
            found = visit(after, [*trail, node])
            if found:
                return found
        done.add(node)
        return None

    for start in sorted(graph):
        found = visit(start, [])
        if found:
            return found
    return None


def test_every_visn_module_is_in_a_package_with_a_rule() -> None:
    for path in python_files(ROOT / "visn"):
        if path.parent == ROOT / "visn":
            assert path.name in {"__init__.py", "__main__.py"}, f"{path}: put it in a package"
        assert package_of(path) in MAY_IMPORT | {"__init__": set()}, f"{path}: no rule for it"
    for package in MAY_IMPORT:
        if package != "__main__":
            init = ROOT / "visn" / package / "__init__.py"
            assert init.is_file(), f"visn/{package}/ has no __init__.py"
            docstring = ast.get_docstring(ast.parse(init.read_text()))
            assert docstring, f"{init}: one line saying what the package owns"


def test_visn_packages_import_only_what_the_rule_allows() -> None:
    assert breaches(visn_edges()) == []


def test_no_cycle_between_visn_packages() -> None:
    allowed = {(source, target) for source, targets in MAY_IMPORT.items() for target in targets}
    assert cycle(allowed) is None, "the rule itself"
    assert cycle(set(visn_edges())) is None


def test_the_checks_see_a_breach_and_a_cycle() -> None:
    # The rule's own logic, on a made-up import: contract is the bottom layer.
    assert breaches({("contract", "saga"): "x.py:1"}) == [
        "x.py:1: visn.contract may not import visn.saga"
    ]
    assert cycle({("saga", "records"), ("records", "saga")}) == ["records", "saga", "records"]


@pytest.mark.parametrize("top", ["keyloop", "visn"])
def test_keyloop_imports_nothing_of_ours_and_visn_no_tool(top: str) -> None:
    # keyloop knows nothing of ViSN or Firebase; visn is deployed without the dev tools.
    forbidden = set(OURS) - {"keyloop"} if top == "keyloop" else set(OURS) - {"keyloop", "visn"}
    found = [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for path in python_files(ROOT / top)
        for line, module in imported(path)
        if module.split(".")[0] in forbidden
    ]
    assert found == []


def test_main_imports_only_visn_entry() -> None:
    found = [
        (line, module)
        for line, module in imported(ROOT / "main.py")
        if module.split(".")[0] in OURS and visn_package(module) not in MAIN_MAY_IMPORT
    ]
    assert found == []


def test_no_module_over_400_lines() -> None:
    long: list[str] = []
    for path in python_files(ROOT):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in NOT_MODULES:
            continue
        lines = len(path.read_text().splitlines())
        if lines > MAX_LINES:
            long.append(f"{rel}: {lines} lines")
    assert long == []


def module_edges(top: str) -> dict[tuple[str, str], str]:
    """(importer, imported) module pairs inside package `top`, each with one place that does
    it; TYPE_CHECKING imports count (a cycle hidden there is still one to a reader). An import
    of the package itself (its __init__) is not an edge: every submodule runs it first."""
    paths = list(python_files(ROOT / top))
    modules = {module_name(path) for path in paths}
    edges: dict[tuple[str, str], str] = {}
    for path in paths:
        source = module_name(path)
        for line, module in imported(path):
            parts = module.split(".")
            target = next(
                (
                    ".".join(parts[:n])
                    for n in range(len(parts), 1, -1)
                    if ".".join(parts[:n]) in modules
                ),
                None,
            )
            if target is not None and target != source:
                edges.setdefault((source, target), f"{path.relative_to(ROOT)}:{line}")
    return edges


@pytest.mark.parametrize("top", ["visn", "keyloop", "keyloop_sandbox", "devtools", "bench", "ops"])
def test_no_import_cycle_between_modules(top: str) -> None:
    edges = module_edges(top)
    found = cycle(set(edges))
    where = [edges[(a, b)] for a, b in itertools.pairwise(found)] if found else []
    assert found is None, f"import cycle {' -> '.join(found or [])} at {', '.join(where)}"


def test_the_module_check_sees_the_sandbox_cycle_it_broke() -> None:
    """config -> events -> times -> config, as it was before Subscription moved out."""
    edges = set(module_edges("keyloop_sandbox")) | {
        ("keyloop_sandbox.config", "keyloop_sandbox.events")
    }
    assert cycle(edges) is not None

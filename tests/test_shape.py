"""The project's shape (#36), read from its own source: no import circle between livecam's modules, and a README
that stays a reference."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _modules() -> dict[str, Path]:
    mods = {}
    for folder, package in (("livecam", "livecam"), ("tray", "livecam.tray")):
        for f in (ROOT / folder).rglob("*.py"):
            parts = [p for p in f.relative_to(ROOT / folder).with_suffix("").parts if p != "__init__"]
            mods[".".join([package, *parts])] = f
    return mods


def _imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The livecam modules ``name`` imports, at its top or inside functions (imports under ``if TYPE_CHECKING``
    are for the type checker only and do not count)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                base = ".".join(package[:len(package) - child.level + 1]) if child.level else ""
                module = ".".join(p for p in (base, child.module or "") if p)
                found.add(module)
                found.update(f"{module}.{a.name}" for a in child.names)
            visit(child)

    visit(ast.parse(path.read_text()))
    out = set()
    for m in found:
        while m and m not in known:
            m = m.rpartition(".")[0]
        if m and m != name:
            out.add(m)
    return out


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while (w := stack.pop()) != v:
                group.append(w)
            if group:
                circles.append(sorted([v, *group]))

    for v in graph:
        if v not in index:
            strong(v)
    return circles


def test_the_circle_check_finds_a_circle():
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _circles({"a": {"b"}, "b": set()}) == []


def test_no_module_of_livecam_imports_itself_through_others():
    known = _modules()
    graph = {m: _imports(m, f, known) for m, f in known.items()}
    assert graph["livecam.batch"] >= {"livecam.batch.jobs"}  # the reader sees package-relative imports
    assert _circles(graph) == []


def test_the_readme_is_a_reference_of_at_most_300_lines():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 300
    for link in ("docs/live.md", "docs/accuracy.md", "docs/archives.md", "docs/people.md"):
        assert f"]({link})" in readme and (ROOT / link).is_file()


def _reach(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for m in graph[todo.pop()]:
            if m not in seen:
                seen.add(m)
                todo.append(m)
    return seen


def test_the_live_path_does_not_import_the_file_engine():
    """The detection policy lives below both (``livecam.policy``): the live pipeline, its worker and wiring
    reach neither the file engine nor the batch runner."""
    known = _modules()
    graph = {m: _imports(m, f, known) for m, f in known.items()}
    for m in ("livecam.live.pipeline", "livecam.live.worker", "livecam.live.wiring"):
        assert not _reach(graph, m) & {"livecam.engine", "livecam.anonymize", "livecam.batch"}, m


def test_every_package_is_installed():
    """pyproject.toml lists every package folder (a wing left out would be missing from the installed wheel)."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(("livecam", *p.parent.relative_to(ROOT / "livecam").parts)) for p in (ROOT / "livecam").rglob("__init__.py")}
    assert found | {"livecam.tray"} == listed


def test_only_the_command_line_reaches_the_evaluation_harness():
    known = _modules()
    graph = {m: _imports(m, f, known) for m, f in known.items()}
    users = {m for m, deps in graph.items() if any(d.startswith("livecam.harness") for d in deps)}
    assert {m for m in users if not m.startswith("livecam.harness")} == {"livecam.cli"}


def test_no_function_is_longer_than_60_lines():
    """A function that does one job fits on a screen (the issue that asked for the wings found six over 60 lines)."""
    long = []
    for f in [*(ROOT / "livecam").rglob("*.py"), *(ROOT / "tray").rglob("*.py")]:
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno is not None:
                if node.end_lineno - node.lineno + 1 > 60:
                    long.append(f"{f.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert long == []


def test_no_module_is_longer_than_400_lines():
    long = [f"{f.relative_to(ROOT)}: {n}" for f in [*(ROOT / "livecam").rglob("*.py"), *(ROOT / "tray").rglob("*.py")]
            if (n := len(f.read_text().splitlines())) > 400]
    assert long == []

"""What must never be, read from the imports with `ast` (milliseconds, no import runs).

- Nothing outside `assistant/gui/` imports Qt.
- The core (everything but `cli/` and `gui/`) imports neither of them.
- Stages import only themselves and the stages below them (the list in LAYERS).
- No module imports a private (`_name`) from another stage.
- No import circle between modules, through package faces included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "assistant"

# Top to bottom: a stage may import the ones after it, never one before it.
LAYERS = ["cli", "gui", "server", "evaluation", "training", "answer", "search", "llm", "ingest",
          "store", "base"]
BASE_MODULES = {"assistant", "assistant.paths", "assistant.settings", "assistant.errors"}
QT_MODULES = ("PySide6", "shiboken6", "PyQt5", "PyQt6")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def stage_of(module: str) -> str:
    if module in BASE_MODULES:
        return "base"
    if module == "assistant.__main__":
        return "cli"
    return module.split(".")[1]


def imports_of(module: str) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every import, nested ones included."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, list[str], int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((target, [alias.name for alias in node.names], node.lineno))
    return found


def internal_edges(module: str) -> set[str]:
    """The project modules `module` imports (`from pkg import submodule` counts as submodule)."""
    edges: set[str] = set()
    for target, names, _ in imports_of(module):
        if not target.startswith("assistant"):
            continue
        subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
        edges.update(subs or [target])
    edges.discard(module)
    return {e for e in edges if e in MODULES}


def test_the_stages_exist_and_every_module_has_one() -> None:
    for module in MODULES:
        assert stage_of(module) in LAYERS, f"{module} belongs to no stage"
    for stage in LAYERS[:-1]:
        assert f"assistant.{stage}" in MODULES, f"assistant/{stage}/__init__.py is missing"


def test_only_the_gui_imports_qt() -> None:
    offenders = [f"{m}:{line} imports {target}"
                 for m in MODULES if stage_of(m) != "gui"
                 for target, _, line in imports_of(m) if target.startswith(QT_MODULES)]
    assert not offenders, "\n".join(offenders)


def test_stages_import_only_downwards() -> None:
    offenders = []
    for module in MODULES:
        rank = LAYERS.index(stage_of(module))
        for target, _, line in imports_of(module):
            if not target.startswith("assistant"):
                continue
            if LAYERS.index(stage_of(target)) < rank:
                offenders.append(f"{module}:{line} ({stage_of(module)}) imports {target} "
                                 f"({stage_of(target)}), a stage above it")
    assert not offenders, "\n".join(offenders)


def test_the_core_never_imports_the_cli_or_the_gui() -> None:
    offenders = [f"{m}:{line} imports {target}"
                 for m in MODULES if stage_of(m) not in ("cli", "gui")
                 for target, _, line in imports_of(m)
                 if target.startswith(("assistant.cli", "assistant.gui"))]
    assert not offenders, "\n".join(offenders)


def test_no_private_names_cross_stages() -> None:
    offenders = [f"{m}:{line} takes {name} from {target}"
                 for m in MODULES
                 for target, names, line in imports_of(m)
                 if target.startswith("assistant") and stage_of(target) != stage_of(m)
                 for name in names if name.startswith("_") and not name.endswith("__")]
    assert not offenders, "\n".join(offenders)


def test_no_import_circles() -> None:
    graph = {m: internal_edges(m) for m in MODULES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in graph:
        if module not in index:
            visit(module)
    assert not circles, "import circles: " + "; ".join(" <-> ".join(c) for c in circles)


@pytest.mark.parametrize("source, expected", [
    ("from assistant.search import Hit\n", ["assistant.search"]),
    ("from .prompt import build_prompt\n", ["assistant.answer.prompt"]),
    ("def late():\n    import assistant.gui.app\n", ["assistant.gui.app"]),
])
def test_the_import_reader_sees_every_form(tmp_path: Path, source: str, expected: list[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The checks are only as good as this reader: absolute, relative and nested imports."""
    (tmp_path / "citations.py").write_text(source, encoding="utf-8")
    monkeypatch.setitem(MODULES, "assistant.answer.citations", tmp_path / "citations.py")
    assert [t for t, _, _ in imports_of("assistant.answer.citations")] == expected


def test_an_upward_import_is_caught(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bad = tmp_path / "store_bad.py"
    bad.write_text("from assistant.answer import Answer\nimport PySide6.QtCore\n",
                   encoding="utf-8")
    monkeypatch.setitem(MODULES, "assistant.store.bad", bad)
    with pytest.raises(AssertionError, match="a stage above it"):
        test_stages_import_only_downwards()
    with pytest.raises(AssertionError, match="PySide6"):
        test_only_the_gui_imports_qt()

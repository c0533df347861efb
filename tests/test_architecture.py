"""The shape of the code (docs/architecture.md): packages in layers that import only downward, no
import circle between files, and only command lines at the root. Read from the `import` statements
with ast, including those inside functions: a lazy import still ties two files together.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import ROOT

# Bottom to top. A package may import itself and the packages before it, never one after it.
LAYERS = ("core", "figures", "studies", "datamodules", "callbacks", "lit_modules", "training", "inference", "report")
COMMANDS = ("train.py", "visualize.py", "tune.py", "predict.py", "export.py")  # the root: command lines on top of every package
OUTSIDE = ("tests", "benchmarks", "experiments", "docs", "results",  # users of the code, not part of it
           "mutants")  # mutmut's working copy (docs/testing.md), git-ignored


def source_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if p.relative_to(root).parts[0] not in OUTSIDE
                  and not any(part.startswith(".") or part == "__pycache__" for part in p.relative_to(root).parts))


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, root: Path, known: set[str]) -> set[str]:
    """The project's modules that `path` imports (`from pkg import mod` counts as pkg.mod)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
        else:
            continue
        for name in names:
            while name and name not in known:  # a.b.func -> a.b; an outside package -> ""
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def graph(root: Path) -> dict[str, set[str]]:
    files = {module_name(p, root): p for p in source_files(root)}
    known = set(files)
    return {m: imports(p, root, known) - {m} for m, p in files.items()}


def layer(module: str) -> int:
    top = module.split(".")[0]
    if top in LAYERS:
        return LAYERS.index(top)
    assert f"{top}.py" in COMMANDS, (f"{module} is neither in a package of {LAYERS} nor a command line "
                                      f"{COMMANDS}: put it in the package of its concern")
    return len(LAYERS)


def upward_imports(edges: dict[str, set[str]]) -> list[str]:
    return [f"{a} -> {b}" for a, targets in edges.items() for b in sorted(targets)
            if layer(b) > layer(a) or (layer(b) == layer(a) == len(LAYERS) and a != b)]


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of two or more files (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))
    for v in sorted(edges):
        visit(v) if v not in index else None
    return found


def test_the_root_holds_only_command_lines():
    loose = sorted(p.name for p in ROOT.glob("*.py"))
    assert loose == sorted(COMMANDS), f"loose modules at the root: {set(loose) - set(COMMANDS)}"
    for name in COMMANDS:
        text = (ROOT / name).read_text()
        assert "def main(argv" in text and 'if __name__ == "__main__":' in text, name


def test_every_package_is_a_known_layer():
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert packages == set(LAYERS), "add the new package to LAYERS (and docs/architecture.md) at its height"


def test_no_package_imports_one_above_it():
    assert upward_imports(graph(ROOT)) == []


def test_no_import_circle():
    assert circles(graph(ROOT)) == []


def test_the_checks_see_a_circle_and_an_upward_import(tmp_path):
    """The checks themselves, on a made-up tree: they must be able to fail."""
    for path, text in {"core/__init__.py": "", "core/a.py": "from core import b\n",
                       "core/b.py": "def f():\n    import core.a\n",
                       "callbacks/__init__.py": "", "callbacks/c.py": "from training.d import run\n",
                       "training/__init__.py": "", "training/d.py": "import torch\nfrom core.a import x\n"}.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    edges = graph(tmp_path)
    assert circles(edges) == [["core.a", "core.b"]]
    assert upward_imports(edges) == ["callbacks.c -> training.d"]


def test_a_loose_module_is_named():
    with pytest.raises(AssertionError, match="neither in a package"):
        layer("helpers")


MAX_FILE_LINES, MAX_FUNCTION_LINES = 230, 60  # small enough to hold in mind


def too_long(root: Path) -> list[str]:
    """Source files over MAX_FILE_LINES lines and functions over MAX_FUNCTION_LINES, by name."""
    found = []
    for path in source_files(root):
        text = path.read_text()
        rel = path.relative_to(root).as_posix()
        if len(text.splitlines()) > MAX_FILE_LINES:
            found.append(f"{rel}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text, str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found.append(f"{rel}:{node.name}: {length} lines")
    return found


def test_files_and_functions_are_small():
    assert too_long(ROOT) == []


def test_the_size_check_names_a_long_function(tmp_path):
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "long.py").write_text("def f():\n" + "    x = 1\n" * MAX_FUNCTION_LINES)
    assert too_long(tmp_path) == [f"core/long.py:f: {MAX_FUNCTION_LINES + 1} lines"]

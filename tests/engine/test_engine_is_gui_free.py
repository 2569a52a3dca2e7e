"""The engine must stay testable without a screen: nothing below engine/ imports Qt or gui."""

import ast
import pathlib
import subprocess
import sys

ENGINE = pathlib.Path(__file__).resolve().parents[2] / "engine"
FORBIDDEN = ("PyQt6", "PyQt5", "PySide6", "pyqtgraph", "gui")


def _imported_roots(path: pathlib.Path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0]


def test_no_engine_source_imports_gui_libraries():
    offenders = [
        f"{p.relative_to(ENGINE.parent)} imports {root}"
        for p in sorted(ENGINE.rglob("*.py"))
        for root in _imported_roots(p)
        if root in FORBIDDEN
    ]
    assert offenders == []


def test_importing_every_engine_module_loads_no_qt():
    modules = [f"engine.{p.stem}" for p in sorted(ENGINE.glob("*.py")) if p.stem != "__init__"]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        f"{FORBIDDEN!r}]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ENGINE.parent,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr

"""The shape holds: one module per engine, one subprocess helper, no import cycles, small modules."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "materialize"
MODULES = sorted(p for p in PACKAGE.rglob("*.py"))
ONLY_IN = {"rattler": {"engines/conda.py"}, "subprocess": {"engines/proc.py"},
           "conda_lock": {"lockfile/model.py", "lockfile/export.py"},
           "conda_package_streaming": {"engines/package_info.py", "engines/conda_archive.py"},
           "requests": {"engines/package_info.py"}}


def _rel(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("library, allowed", sorted(ONLY_IN.items()))
def test_engine_imports_are_contained(library, allowed):
    offenders = [_rel(p) for p in MODULES if library in _imports(p) and _rel(p) not in allowed]
    assert offenders == [], f"{library} imported outside {sorted(allowed)}"


@pytest.mark.parametrize("module", [p.relative_to(PACKAGE.parent).with_suffix("").as_posix().replace("/", ".")
                                    for p in MODULES if p.name != "__main__.py"])
def test_every_module_imports_fresh(module):
    done = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_modules_stay_small():
    sizes = {_rel(p): len(p.read_text().splitlines()) for p in MODULES}
    assert {name: n for name, n in sizes.items() if n > 400} == {}

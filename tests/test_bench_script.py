"""scripts/bench starts right whatever Python is first on PATH, says what to run without the test
venv, and ends with the exact metrics line (nothing here times anything)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "scripts" / "bench"
LAST_LINE = re.compile(r"warm-install-ratio=\S+ lock-ratio=\S+ noop-ratio=\S+ pip-speedup=\S+ pypi-ratio=\S+ "
                       r"cold-install-ratio=\S+ lock-bytes-fraction=\S+")


def _bare_python_first(tmp_path: Path) -> dict[str, str]:
    """PATH with the base interpreter first as ``python3``, where ``materialize`` and ``rattler``
    import (stubs on PYTHONPATH, as from another project's venv) but pypiserver and uv do not."""
    shim, stubs = tmp_path / "shim", tmp_path / "stubs"
    shim.mkdir()
    for name in ("materialize", "rattler"):
        (stubs / name).mkdir(parents=True)
        (stubs / name / "__init__.py").write_text("")
    base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    (shim / "python3").symlink_to(base)
    (shim / "python").symlink_to(base)
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["PATH"] = f"{shim}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(stubs)
    return env


@pytest.mark.skipif(Path(sys.prefix).resolve() != (REPO / ".venv").resolve(),
                    reason="the bench runs under the repo's .venv; these tests run elsewhere")
def test_bench_runs_under_the_test_venv_whatever_python_comes_first(tmp_path):
    env = _bare_python_first(tmp_path)
    probe = "import materialize, rattler\ntry:\n import pypiserver\nexcept ImportError:\n print('no pypiserver')"
    bare = subprocess.run(["python3", "-c", probe], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert bare.stdout.strip() == "no pypiserver", bare.stderr
    done = subprocess.run([str(BENCH), "--help"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "usage: scripts/bench" in done.stdout and "--real" in done.stdout


def test_bench_without_the_test_venv_says_what_to_run(tmp_path):
    repo = tmp_path / "clone"
    shutil.copytree(REPO / "scripts", repo / "scripts", ignore=shutil.ignore_patterns("__pycache__"))
    done = subprocess.run([str(repo / "scripts" / "bench"), "--quick"], env=_bare_python_first(tmp_path),
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert f"the test venv {repo / '.venv'} is missing" in done.stderr
    assert "python3 -m venv .venv && .venv/bin/pip install -e '.[test]'" in done.stderr


def test_the_last_line_names_every_metric_in_order():
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        from benchlib import report
        from benchlib.runner import Samples
    finally:
        sys.path.remove(str(REPO / "scripts"))
    results = {"lock.mz": Samples("m", [0.6, 0.5]), "lock.raw": Samples("r", [0.5, 0.55]),
               "lock-bytes.mz": Samples("b", [3.0e6], unit="B"), "lock-bytes.total": Samples("t", [9.0e7], unit="B")}
    table = report.Table(results, ["summary"], "footer")
    last = table.closing_lines()[-1]
    assert LAST_LINE.fullmatch(last), last
    assert "lock-ratio=1.00" in last and "lock-bytes-fraction=0.033" in last and "warm-install-ratio=nan" in last
    assert "lock, warm caches" in table.text() and "MISSED" not in table.text()

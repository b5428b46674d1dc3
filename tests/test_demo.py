"""Issue 12: the README's first command (scripts/demo) runs the real-named example against a local mirror.

The example and the mirror cannot drift apart (checked here without network); the whole demo runs
under `-m network` (its wheels come from PyPI once, into `.world-cache/demo-mirror/`) and in
`.ci/run`, which runs the README's two commands.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import REPO, WORLD

sys.path.insert(0, str(REPO / "scripts"))
from demolib import mirror  # noqa: E402

EXAMPLE = REPO / "examples" / "iris-classifier"
CORE_SET = REPO / "materialize" / "inputs" / "core_sets" / "default.txt"


def _names(pins: list[str]) -> set[str]:
    return {canonicalize_name(pin.split("==")[0]) for pin in pins}


def _requirement_names(path: Path) -> set[str]:
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return {canonicalize_name(Requirement(line).name) for line in lines if line and not line.startswith("-")}


def test_the_example_names_real_packages_that_the_mirror_holds():
    conda = [line.split("#")[0].strip() for line in (EXAMPLE / "conda-packages.txt").read_text().splitlines()]
    conda_names = {re.split(r"[=<>\s]", line)[0] for line in conda if line}
    assert conda_names == {"python", "numpy", "scikit-learn"}
    assert conda_names - {"python"} <= _names(mirror.CONDA_SET)
    assert "pip" in _names(mirror.CONDA_SET)  # materialize adds it when there are PyPI requirements
    assert _requirement_names(EXAMPLE / "requirements.txt") == {"fastapi", "uvicorn"}
    pypi_set = mirror.pypi_set("3.11", "linux-64")  # the shipped core lock the demo mirrors
    assert _requirement_names(EXAMPLE / "requirements.txt") | _requirement_names(CORE_SET) <= _names(pypi_set)
    assert not _names(mirror.CONDA_SET) & _names(pypi_set)
    assert not (EXAMPLE / "materialize.toml").exists()  # conda-forge and PyPI, the defaults, as written


def _demo(out: Path, cache: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MATERIALIZE_", "UV_"))}
    return subprocess.run([sys.executable, str(REPO / "scripts" / "demo"), "--out", str(out)], capture_output=True,
                          text=True, timeout=900, env={**env, "MATERIALIZE_DEMO_CACHE": str(cache)},
                          stdin=subprocess.DEVNULL)


@pytest.mark.network
def test_the_demo_runs_the_example_then_runs_again_with_nothing_to_download(tmp_path):
    cache = WORLD / "demo-mirror"
    first = _demo(tmp_path / "out", cache)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    lockfile = (tmp_path / "out" / "iris-classifier" / "materialize-lock.yml").read_text()
    urls = re.findall(r"url: (\S+)", lockfile)
    assert urls and all(url.startswith("http://127.0.0.1:") for url in urls)  # nothing from a public host
    for name in ("numpy", "scikit-learn", "scipy", "fastapi", "uvicorn", "msgpack", "python", "pip"):
        assert f"name: {name}\n" in lockfile, name
    for line in ("  numpy         2.4.6     installed by conda", "  fastapi       0.165.0   installed by uv",
                 '  POST /predict {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, '
                 '"petal_width": 2.3} -> {"species": "virginica"}'):
        assert line in first.stdout.splitlines(), first.stdout
    assert [line.split()[0] for line in first.stdout.split("Done in")[1].splitlines()[1:]] == [
        "mirror", "serve", "project", "lock", "install", "verify", "run"]

    again = _demo(tmp_path / "out", cache)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "downloading" not in again.stdout and "building the conda channel" not in again.stdout
    assert "is up to date with materialize-lock.yml" in again.stdout

"""Against the real PyPI: deselected by default (`pytest -m network` runs it)."""

from __future__ import annotations

import pytest

from tests.helpers import lock_packages, run_python, write_project

pytestmark = pytest.mark.network


def test_real_pypi_package_locks_and_installs(cli, tmp_path, channel_url):
    (tmp_path / "core.txt").write_text("six\n")
    project = write_project(tmp_path / "p", requirements="six==1.17.0\n",
                            files={"materialize.toml": 'core-requirements = "../core.txt"\n'})
    cli.ok("lock", project, "--channel", channel_url)
    pip = lock_packages(project / "materialize-lock.yml", "pip")
    assert pip == {"six": "1.17.0"}
    assert "https://files.pythonhosted.org/" in (project / "materialize-lock.yml").read_text()
    cli.ok("install", project, "--prefix", tmp_path / "env")
    assert run_python(tmp_path / "env", "import six; print(six.__version__)").stdout.strip() == "1.17.0"

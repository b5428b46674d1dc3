"""Issue 3: passwords and tokens never reach the lockfile, any output, any log, or a child's argv."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.conftest import PRIVATE_AUTH
from tests.helpers import run_python, write_project

PASSWORD = PRIVATE_AUTH[1]


@pytest.fixture
def argv_log(tmp_path) -> tuple[Path, dict[str, str]]:
    """A wrapper that records every argv given to uv (and its children) and runs the real uv."""
    import uv

    log = tmp_path / "argv.log"
    wrapper = tmp_path / "uv-spy"
    wrapper.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{log}"\nexec "{uv.find_uv_bin()}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return log, {"MATERIALIZE_UV": str(wrapper)}


def _private_project(root: Path, pypi, private_pypi, password: str) -> Path:
    user = PRIVATE_AUTH[0]
    host = private_pypi.host
    return write_project(root, requirements="privpkg\ntinydep\n", pip_conf=(
        f"[global]\nindex-url = {pypi.url}\nextra-index-url = http://{user}:{password}@{host}/simple/\n"))


def _assert_nowhere(secret: str, *roots: Path) -> None:
    """Every file below ``roots`` except the user's own input (pip.conf) is searched."""
    needle = secret.encode()
    for root in roots:
        for folder, _, files in os.walk(root):
            for name in files:
                path = Path(folder) / name
                if path.is_file() and not path.is_symlink() and name != "pip.conf":
                    assert needle not in path.read_bytes(), f"secret found in {path}"


def test_private_index_password_stays_secret(cli, tmp_path, channel_url, pypi, private_pypi, argv_log, isolated):
    log, env = argv_log
    cache = tmp_path / "cache"
    env = {**env, "MATERIALIZE_CACHE_DIR": str(cache)}
    project = _private_project(tmp_path / "p", pypi, private_pypi, PASSWORD)
    locked = cli.ok("lock", project, "--channel", channel_url, "-vv", env=env)
    installed = cli.ok("install", project, "--prefix", tmp_path / "env", "-vv", env=env)
    assert run_python(tmp_path / "env", "import privpkg, tinydep").returncode == 0
    text = (project / "materialize-lock.yml").read_text()
    assert f"http://{private_pypi.host}/packages/privpkg" in text
    for output in (locked.stdout, locked.stderr, installed.stdout, installed.stderr, log.read_text()):
        assert PASSWORD not in output
    assert "pip" in log.read_text() and "compile" in log.read_text()  # the spy really saw uv's argv
    _assert_nowhere(PASSWORD, project, tmp_path / "env", cache, isolated)


def test_wrong_password_exit_5_names_host_not_password(cli, tmp_path, channel_url, pypi, private_pypi, argv_log,
                                                       isolated):
    log, env = argv_log
    wrong = "Wr0ng-PassW0rd-zz"
    project = _private_project(tmp_path / "p", pypi, private_pypi, wrong)
    done = cli.fails(5, "lock", project, "--channel", channel_url, "--json", env=env)
    assert private_pypi.host in done.stdout
    assert wrong not in done.stdout + done.stderr + log.read_text()
    assert not (project / "materialize-lock.yml").exists()
    _assert_nowhere(wrong, project, isolated)

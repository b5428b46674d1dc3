"""Issue 4: Python-version changes and the serving runtime's core packages."""

from __future__ import annotations

import json
import sys

import pytest

from tests.helpers import lock_packages, pip_conf_for, run_python, write_project
from tests.world import wheels

RUNNING_TAG = "cp%d%d" % sys.version_info[:2]


@pytest.fixture(scope="module")
def core_wheels(pypi, tmp_path_factory):
    """corepy 1.0 for any Python, 2.0 only for newer ones; corebin has one binary wheel, for this Python only."""
    folder = tmp_path_factory.mktemp("core-wheels")
    newer = "%d.%d" % (sys.version_info[0], sys.version_info[1] + 1)
    pypi.add(wheels.build_wheel(wheels.Dist("corepy", "1.0"), folder),
             wheels.build_wheel(wheels.Dist("corepy", "2.0", requires_python=f">={newer}"), folder),
             wheels.build_wheel(wheels.Dist("corebin", "1.0", python_tag=RUNNING_TAG, abi_tag=RUNNING_TAG,
                                            platform_tag="manylinux_2_17_x86_64"), folder))
    return folder


def _project(tmp_path, pypi, core: str, conda: str = "condapy\n", requirements: str = "tinydep\n"):
    (tmp_path / "core.txt").write_text(core)
    return write_project(tmp_path / "p", conda=conda, requirements=requirements, pip_conf=pip_conf_for(pypi.url),
                         files={"materialize.toml": 'core-requirements = "../core.txt"\n'})


def _python_of(project) -> str:
    return lock_packages(project / "materialize-lock.yml", "conda")["python"]


def test_default_python_and_core_packages_always_locked(cli, tmp_path, channel_url, pypi, core_wheels,
                                                         running_python):
    project = _project(tmp_path, pypi, "corepy\n")
    done = cli.ok("lock", project, "--channel", channel_url)
    assert _python_of(project) == running_python
    assert lock_packages(project / "materialize-lock.yml", "pip")["corepy"] == "1.0"
    assert not [line for line in done.stdout.splitlines() if line.startswith("Python ")]  # default: no report
    meta = (project / "materialize-lock.yml").read_text()
    assert f"materialize.python.linux-64: {running_python}" in meta


def test_config_shows_every_setting_and_its_source(cli, tmp_path, pypi):
    project = write_project(tmp_path / "p", conda="condapy\n", files={"materialize.toml": 'python = "3.12"\n'})
    done = cli.ok("config", project, "--json", env={"MATERIALIZE_CHANNELS": "file:///x"})
    data = json.loads(done.stdout)["data"]
    assert data["python"]["source"].startswith("project ") and data["python"]["value"] == "3.12"
    assert data["channels"] == {"value": ["file:///x"], "source": "env MATERIALIZE_CHANNELS"}
    assert data["core-requirements"]["source"].startswith("user config ")
    assert data["index-strategy"] == {"value": "first-index", "source": "default"}


def test_user_requirement_conflicting_with_core_says_which_side_is_core(cli, tmp_path, channel_url, pypi):
    project = _project(tmp_path, pypi, "coreserver==1.1\n", requirements="coreserver==1.0\n")
    done = cli.fails(4, "lock", project, "--channel", channel_url)
    assert "'coreserver==1.1' (core (core.txt), core.txt:1)" in done.stderr
    assert "'coreserver==1.0' (user, requirements.txt:1)" in done.stderr


def test_named_core_sets_and_a_local_runtime_package(cli, tmp_path, channel_url, pypi):
    runtime = wheels.write_project(tmp_path / "flavours" / "serve", "servert", "0.1", kind="pyproject")
    (tmp_path / "flavours" / "onnx.txt").write_text("coreserver==1.0\n./serve\n")
    project = write_project(tmp_path / "p", conda="condapy\n", requirements="tinydep\n",
                            pip_conf=pip_conf_for(pypi.url),
                            files={"materialize.toml": 'core = "onnx"\n[core-sets]\nonnx = "../flavours/onnx.txt"\n'})
    assert runtime.is_dir()
    cli.ok("lock", project, "--channel", channel_url)
    assert lock_packages(project / "materialize-lock.yml", "pip")["coreserver"] == "1.0"
    cli.ok("install", project, "--prefix", tmp_path / "env")
    assert run_python(tmp_path / "env", "import servert, coreserver").returncode == 0


def test_unknown_core_set_is_an_input_error(cli, tmp_path, channel_url):
    project = write_project(tmp_path / "p", conda="condapy\n", files={"materialize.toml": 'core = "nope"\n'})
    done = cli.fails(3, "lock", project, "--channel", channel_url)
    assert "core set 'nope'" in done.stderr and "default" in done.stderr


def test_core_package_without_a_release_for_the_locked_python(cli, tmp_path, channel_url, pypi, core_wheels,
                                                              other_python):
    project = _project(tmp_path, pypi, "corebin\n")
    cli.ok("lock", project, "--channel", channel_url)  # fine for the running Python
    minor = ".".join(other_python.split(".")[:2])
    done = cli.fails(4, "lock", project, "--channel", channel_url, "--python", minor)
    assert f"Python {other_python}" in done.stderr and "'corebin' (core (core.txt), core.txt:1)" in done.stderr


def test_python_change_via_conda_packages_reports_and_reinstalls(cli, tmp_path, channel_url, pypi, core_wheels,
                                                                 other_python, running_python):
    project = _project(tmp_path, pypi, "corepy\n")
    cli.ok("lock", project, "--channel", channel_url)
    prefix = tmp_path / "env"
    cli.ok("install", project, "--prefix", prefix)
    old_minor = ".".join(running_python.split(".")[:2])
    assert (prefix / "lib" / f"python{old_minor}").is_dir()
    new_minor = ".".join(other_python.split(".")[:2])
    (project / "conda-packages.txt").write_text(f"condapy\npython={new_minor}\n")
    locked = cli.ok("lock", project, "--channel", channel_url)
    assert f"Python {running_python} -> {other_python} (linux-64)" in locked.stdout
    if other_python > running_python:
        assert "corepy 1.0 -> 2.0" in locked.stdout
    installed = cli.ok("install", project, "--prefix", prefix)
    assert f"Python changed {running_python} -> {other_python}" in installed.stdout
    assert not (prefix / "lib" / f"python{old_minor}").exists()
    assert not (prefix / "bin" / f"python{old_minor}").exists()
    done = run_python(prefix, "import sys, corepy, condapy, tinydep; print('%d.%d' % sys.version_info[:2])")
    assert done.stdout.strip() == new_minor, done.stderr


def test_python_change_via_flag(cli, tmp_path, channel_url, pypi, core_wheels, other_python, running_python):
    project = _project(tmp_path, pypi, "corepy\n")
    cli.ok("lock", project, "--channel", channel_url)
    minor = ".".join(other_python.split(".")[:2])
    done = cli.ok("lock", project, "--channel", channel_url, "--python", minor, "--json")
    data = json.loads(done.stdout)["data"]
    assert data["python_changes"]["linux-64"] == {"old": running_python, "new": other_python}
    assert _python_of(project) == other_python


def test_same_python_updates_in_place(cli, tmp_path, channel_url, pypi, core_wheels, running_python):
    project = _project(tmp_path, pypi, "corepy\n")
    cli.ok("lock", project, "--channel", channel_url)
    prefix = tmp_path / "env"
    cli.ok("install", project, "--prefix", prefix)
    minor = ".".join(running_python.split(".")[:2])
    interpreter = prefix / "bin" / f"python{minor}"
    before = interpreter.stat().st_ino
    (project / "requirements.txt").write_text("tinyweb\n")
    cli.ok("lock", project, "--channel", channel_url)
    done = cli.ok("install", project, "--prefix", prefix, "--json")
    data = json.loads(done.stdout)["data"]
    assert data["status"] == "updated" and data["conda"]["changed"] == []
    assert interpreter.stat().st_ino == before
    assert run_python(prefix, "import tinyweb, corepy").returncode == 0

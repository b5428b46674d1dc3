"""Issue 12: sdist metadata is built by an interpreter of the locked Python, and the lock says which.

`agedep` is an sdist whose setup.py requires tinydep 2.0 when run by the second Python here and
tinydep 1.0 otherwise: the pin of tinydep shows which interpreter really built it.
"""

from __future__ import annotations

import json
import os

import pytest

from tests.helpers import lock_packages, pip_conf_for, write_project
from tests.world import wheels
from materialize.resolve.build_python import BuildPython


@pytest.fixture(scope="module")
def agedep(pypi, other_python, tmp_path_factory) -> str:
    """Put the agedep sdist on the index; return the Python minor version it answers tinydep 2.0 to."""
    minor = tuple(int(part) for part in other_python.split(".")[:2])
    dist = wheels.Dist("agedep", "1.0")
    setup_py = wheels.python_dependent_setup_py(dist, minor, "tinydep==2.0", "tinydep==1.0")
    pypi.add(wheels.build_sdist(dist, tmp_path_factory.mktemp("agedep"), setup_py=setup_py))
    return "%d.%d" % minor


@pytest.fixture
def no_other_pythons(tmp_path, monkeypatch):
    """A PATH and a HOME where `uv python find` finds no interpreter (as under pyenv's shims, which
    exit 127 here), and a cache of this test's own (uv would reuse metadata built by another test)."""
    path = tmp_path / "bin"
    path.mkdir()
    monkeypatch.setenv("PATH", str(path))
    monkeypatch.setenv("MATERIALIZE_CACHE_DIR", str(tmp_path / "cache"))
    return path


def _project(tmp_path, pypi):
    return write_project(tmp_path / "p", conda="condapy\n", requirements="agedep\n", pip_conf=pip_conf_for(pypi.url))


def _lock_json(cli, project, *args) -> dict:
    return json.loads(cli.ok("lock", project, *args, "--json").stdout)["data"]


def test_locked_conda_python_builds_the_metadata_when_none_is_found(cli, tmp_path, channel_url, pypi, agedep,
                                                                   other_python, no_other_pythons):
    project = _project(tmp_path, pypi)
    data = _lock_json(cli, project, "--channel", channel_url, "--python", agedep)
    chosen = data["build_python"]["linux-64"]
    build_prefixes = tmp_path / "cache" / "build-pythons-v1"
    assert chosen == {"path": chosen["path"], "version": other_python, "source": "locked", "host": "linux-64",
                      "on_host": False, "fits": True, "built": ["agedep"]}
    assert chosen["path"].startswith(str(build_prefixes)) and chosen["path"].endswith(f"/bin/python{agedep}")
    assert lock_packages(project / "materialize-lock.yml", "pip")["tinydep"] == "2.0"  # built by Python X.Y

    marker = next(build_prefixes.glob("*/.complete"))
    made = marker.stat().st_mtime_ns
    (project / "materialize-lock.yml").unlink()
    done = cli.ok("lock", project, "--channel", channel_url, "--python", agedep, "-v")
    assert marker.stat().st_mtime_ns == made and "linking the locked python" not in done.stderr  # reused
    assert (f"  metadata of agedep built from source with Python {other_python} at {chosen['path']} "
            "(the locked conda python, linked into the cache)") in done.stdout.splitlines()
    assert "uv builds sdist metadata with" in done.stderr
    assert lock_packages(project / "materialize-lock.yml", "pip")["tinydep"] == "2.0"


def test_an_interpreter_uv_finds_comes_before_the_locked_one(cli, tmp_path, channel_url, pypi, agedep,
                                                             other_python, found_interpreters, no_other_pythons):
    tree = next(i for i in found_interpreters if i.version == other_python)
    os.symlink(tree.prefix / "bin" / f"python{agedep}", no_other_pythons / f"python{agedep}")
    project = _project(tmp_path, pypi)
    chosen = _lock_json(cli, project, "--channel", channel_url, "--python", agedep)["build_python"]["linux-64"]
    assert (chosen["source"], chosen["version"], chosen["path"]) == (
        "found", other_python, str(no_other_pythons / f"python{agedep}"))
    assert lock_packages(project / "materialize-lock.yml", "pip")["tinydep"] == "2.0"
    assert not list((tmp_path / "cache").glob("build-pythons-v1/*/.complete"))  # nothing linked


def test_a_later_lock_for_another_python_builds_the_metadata_again(cli, tmp_path, channel_url, pypi, agedep,
                                                                   running_python, no_other_pythons):
    project = _project(tmp_path, pypi)
    first = _lock_json(cli, project, "--channel", channel_url)["build_python"]["linux-64"]
    assert (first["source"], first["version"]) == ("running", running_python)
    assert lock_packages(project / "materialize-lock.yml", "pip")["tinydep"] == "1.0"
    cli.ok("lock", project, "--channel", channel_url, "--python", agedep)  # same uv cache, other Python
    assert lock_packages(project / "materialize-lock.yml", "pip")["tinydep"] == "2.0"


def test_foreign_platforms_say_their_metadata_was_built_on_this_host(cli, tmp_path, channel_url, pypi, agedep,
                                                                    running_python, no_other_pythons):
    project = _project(tmp_path, pypi)
    done = cli.ok("lock", project, "--channel", channel_url, "--platform", "linux-64", "--platform", "linux-aarch64")
    lines = done.stdout.splitlines()
    aarch64 = lines.index(next(line for line in lines if line.startswith("Locked linux-aarch64:")))
    assert lines[aarch64 + 1].startswith(f"  metadata of agedep built from source with Python {running_python} at ")
    assert lines[aarch64 + 2] == ("  note: built on this host (linux-64), not on linux-aarch64: a build backend "
                                  "that looks at the platform may give other requirements there")
    data = _lock_json(cli, project, "--channel", channel_url, "--platform", "linux-64", "--platform", "linux-aarch64")
    assert [data["build_python"][p]["on_host"] for p in ("linux-64", "linux-aarch64")] == [False, True]


def test_a_fallback_to_another_python_is_said_loudly():
    chosen = BuildPython("/usr/bin/python3.11", "3.11.7", "fallback", "3.12.1", "linux-64", "linux-64")
    assert not chosen.fits and chosen.notes([]) == []
    assert chosen.notes(["agedep"]) == [
        "metadata of agedep built from source with Python 3.11.7 at /usr/bin/python3.11 (materialize's own "
        "interpreter)",
        "warning: no Python 3.12 was found here (`uv python find 3.12` failed and the locked python could not be "
        "linked): a setup.py that depends on the Python version may need other packages on Python 3.12.1"]

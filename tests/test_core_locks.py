"""Issue 15: core sets come pre-locked. The hermetic world makes its own core set, `testcore`, and locks it
with the real `scripts/lock-core` against the local pypiserver; projects then lock against those files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.pylock import Pylock

from tests.helpers import lock_packages, pip_conf_for, run_python, write_project
from tests.world import pypi_server, wheels

REPO = Path(__file__).resolve().parent.parent
RUNNING = "%d.%d" % sys.version_info[:2]
NEWER = "%d.%d" % (sys.version_info[0], sys.version_info[1] + 1)


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def _tag(minor: str) -> str:
    return "cp" + minor.replace(".", "")


def _dists(srvdep_source: str | None = None) -> list[wheels.Dist]:
    return [wheels.Dist("srvdep", "1.0"), wheels.Dist("srvdep", "1.1", module_source=srvdep_source),
            wheels.Dist("srvcore", "1.0", requires=("srvdep>=1.0",)),
            wheels.Dist("srvcore", "2.0", requires=("srvdep>=1.0",), requires_python=f">={NEWER}")]


def lock_core(*args: object) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "lock-core"), *map(str, args)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.fixture(scope="module")
def testcore(pypi, tmp_path_factory, other_python):
    """`testcore` = srvcore>=1.0, locked for this Python and another on linux-64; then the index gets newer
    releases (srvcore 2.1, srvdep 1.2) that an open resolve would take and the core locks must not."""
    root = tmp_path_factory.mktemp("testcore")
    pypi.add(*wheels.build_all(_dists(), root / "wheels"))
    (root / "sets").mkdir()
    (root / "sets" / "testcore.txt").write_text("# the test world's serving runtime\nsrvcore>=1.0\n")
    done = lock_core("--sets-dir", root / "sets", "--out", root / "locks", "--index-url", pypi.url,
                     "--python", RUNNING, "--python", _minor(other_python), "--platform", "linux-64")
    pypi.add(*wheels.build_all([wheels.Dist("srvdep", "1.2"), wheels.Dist(
        "srvcore", "2.1", requires=("srvdep>=1.0",), requires_python=f">={NEWER}"),
        wheels.Dist("needsnewdep", "1.0", requires=("srvdep>=1.2",))], root / "wheels"))
    return {"root": root, "sets": root / "sets", "locks": root / "locks", "output": done.stdout,
            "wheels": root / "wheels"}


def _project(tmp_path, testcore, pypi_url, requirements="tinydep\n", extra=""):
    settings = (f'core = "testcore"\ncore-locks = "{testcore["locks"]}"\n'
                f'[core-sets]\ntestcore = "{testcore["sets"] / "testcore.txt"}"\n')
    return write_project(tmp_path / "p", conda="condapy\n", requirements=requirements,
                         pip_conf=pip_conf_for(pypi_url), files={"materialize.toml": extra + settings})


def test_lock_core_writes_hashed_pylock_files_that_match_the_index(testcore, pypi, other_python):
    for minor in (RUNNING, _minor(other_python)):
        path = testcore["locks"] / "testcore" / f"pylock.{_tag(minor)}-linux-64.toml"
        data = tomllib.loads(path.read_text())
        Pylock.from_dict(data).validate()
        assert data["tool"]["materialize"]["requirements"] == ["srvcore>=1.0"]
        assert f"testcore/{path.name}: new, 2 packages" in testcore["output"]
        for package in data["packages"]:
            for wheel in package["wheels"]:
                served = pypi.packages_dir / wheel["url"].rsplit("/", 1)[-1]
                assert wheel["hashes"]["sha256"] == __import__("hashlib").sha256(served.read_bytes()).hexdigest()
                assert wheel["url"].startswith(pypi.url.rsplit("/simple", 1)[0])
    newer = _minor(other_python) > RUNNING
    versions = {p["name"]: p["version"] for p in tomllib.loads(
        (testcore["locks"] / "testcore" / f"pylock.{_tag(_minor(other_python))}-linux-64.toml").read_text())["packages"]}
    assert versions == {"srvcore": "2.0" if newer else "1.0", "srvdep": "1.1"}


def test_lock_core_prints_what_moved(testcore, pypi, tmp_path):
    out = tmp_path / "locks"
    shutil.copytree(testcore["locks"], out)
    done = lock_core("--sets-dir", testcore["sets"], "--out", out, "--index-url", pypi.url, "--python", RUNNING,
                     "--platform", "linux-64")
    assert f"testcore/pylock.{_tag(RUNNING)}-linux-64.toml: srvdep 1.1 -> 1.2 (2 packages)" in done.stdout
    again = lock_core("--sets-dir", testcore["sets"], "--out", out, "--index-url", pypi.url, "--python", RUNNING,
                      "--platform", "linux-64")
    assert "no version moved (2 packages)" in again.stdout and "0 written, 1 unchanged" in again.stdout


def test_lock_takes_the_core_lock_pins_and_hashes(cli, tmp_path, channel_url, pypi, testcore):
    project = _project(tmp_path, testcore, pypi.url)
    done = cli.ok("lock", project, "--channel", channel_url, "--json")
    data = json.loads(done.stdout)["data"]
    assert data["core_locks"] == {"linux-64": f"testcore/pylock.{_tag(RUNNING)}-linux-64.toml"}
    assert lock_packages(project / "materialize-lock.yml", "pip") == {"srvcore": "1.0", "srvdep": "1.1",
                                                                      "tinydep": "2.0"}
    core_lock = tomllib.loads((testcore["locks"] / "testcore" / f"pylock.{_tag(RUNNING)}-linux-64.toml").read_text())
    text = (project / "materialize-lock.yml").read_text()
    for package in core_lock["packages"]:
        assert package["wheels"][0]["hashes"]["sha256"] in text
    cli.ok("install", project, "--prefix", tmp_path / "env")
    imported = run_python(tmp_path / "env", "import srvdep; print(srvdep.__version__)")
    assert imported.stdout.strip() == "1.1", imported.stderr


def test_user_requirement_against_a_core_lock_pin_is_exit_4_naming_both(cli, tmp_path, channel_url, pypi, testcore):
    project = _project(tmp_path, testcore, pypi.url, requirements="tinydep\nsrvdep>=1.2\n")
    done = cli.fails(4, "lock", project, "--channel", channel_url)
    assert "'srvdep>=1.2' (user, requirements.txt:2)" in done.stderr
    assert f"srvdep 1.1, pinned by the core lock testcore/pylock.{_tag(RUNNING)}-linux-64.toml" in done.stderr


def test_a_dependency_against_a_core_lock_pin_is_exit_4_naming_the_pin(cli, tmp_path, channel_url, pypi, testcore):
    project = _project(tmp_path, testcore, pypi.url, requirements="needsnewdep\n")
    done = cli.fails(4, "lock", project, "--channel", channel_url)
    assert "'needsnewdep' (user, requirements.txt:1)" in done.stderr
    pinned = next(x for x in done.stderr.splitlines() if x.startswith("pinned by the core lock "))
    assert pinned.startswith(f"pinned by the core lock testcore/pylock.{_tag(RUNNING)}-linux-64.toml: ")
    assert "srvdep==1.1" in pinned.split(": ", 1)[1].split("; ")


def test_an_index_serving_other_bytes_for_a_core_pin_is_exit_6(cli, tmp_path, channel_url, testcore):
    folder = tmp_path / "other-index"
    wheels.build_all(_dists(srvdep_source="__version__ = 'not the same bytes'\n") + [wheels.Dist("tinydep", "2.0")],
                     folder)
    with pypi_server.start_pypi_server(folder) as other:
        project = _project(tmp_path, testcore, other.url)
        done = cli.fails(6, "lock", project, "--channel", channel_url)
    assert "core package srvdep 1.1: the index serves srvdep-1.1-py3-none-any.whl" in done.stderr
    assert f"the core lock testcore/pylock.{_tag(RUNNING)}-linux-64.toml lists sha256" in done.stderr


def test_python_change_swaps_core_locks_and_names_their_versions(cli, tmp_path, channel_url, pypi, testcore,
                                                                running_python, other_python):
    project = _project(tmp_path, testcore, pypi.url)
    cli.ok("lock", project, "--channel", channel_url)
    other = _minor(other_python)
    done = cli.ok("lock", project, "--channel", channel_url, "--python", other)
    old_file, new_file = (f"testcore/pylock.{_tag(m)}-linux-64.toml" for m in (RUNNING, other))
    assert f"Python {running_python} -> {other_python} (linux-64)" in done.stdout
    assert f"core packages for linux-64, core lock {old_file} -> {new_file}:" in done.stdout
    if other > RUNNING:
        assert "    srvcore 1.0 -> 2.0\n    unchanged: srvdep 1.1\n" in done.stdout
    else:
        assert "    unchanged: srvcore 1.0, srvdep 1.1\n" in done.stdout
    assert "no version changed" not in done.stdout
    pins = lock_packages(project / "materialize-lock.yml", "pip")
    assert pins["srvcore"] == ("2.0" if other > RUNNING else "1.0") and pins["srvdep"] == "1.1"  # not 2.1, 1.2


def test_a_refreshed_core_lock_makes_the_lockfile_stale_and_moves_its_pins(cli, tmp_path, channel_url, pypi,
                                                                           testcore):
    locks = tmp_path / "locks"
    shutil.copytree(testcore["locks"], locks)
    project = _project(tmp_path, {**testcore, "locks": locks}, pypi.url)
    cli.ok("lock", project, "--channel", channel_url)
    cli.ok("lock", project, "--channel", channel_url, "--check")
    lock_core("--sets-dir", testcore["sets"], "--out", locks, "--index-url", pypi.url, "--python", RUNNING,
              "--platform", "linux-64")
    cli.fails(7, "lock", project, "--channel", channel_url, "--check")
    done = cli.ok("lock", project, "--channel", channel_url)
    label = f"testcore/pylock.{_tag(RUNNING)}-linux-64.toml"
    assert (f"  core packages for linux-64, core lock {label}, refreshed since the last lock:\n"
            "    srvdep 1.1 -> 1.2\n    unchanged: srvcore 1.0\n") in done.stdout
    assert lock_packages(project / "materialize-lock.yml", "pip")["srvdep"] == "1.2"


def test_core_requirements_still_resolve_their_open_ranges(cli, tmp_path, channel_url, pypi, testcore):
    (tmp_path / "own-core.txt").write_text("srvcore>=1.0\n")
    project = write_project(tmp_path / "p", conda="condapy\n", requirements="tinydep\n",
                            pip_conf=pip_conf_for(pypi.url),
                            files={"materialize.toml": f'core-requirements = "../own-core.txt"\n'
                                                      f'core-locks = "{testcore["locks"]}"\n'})
    done = cli.ok("lock", project, "--channel", channel_url, "--json")
    assert json.loads(done.stdout)["data"]["core_locks"] == {"linux-64": None}
    assert lock_packages(project / "materialize-lock.yml", "pip")["srvdep"] == "1.2"  # the newest, as before


def test_a_core_set_without_a_lock_for_this_python_says_so(cli, tmp_path, channel_url, pypi, testcore):
    locks = tmp_path / "locks"
    shutil.copytree(testcore["locks"], locks)
    (locks / "testcore" / f"pylock.{_tag(RUNNING)}-linux-64.toml").unlink()
    project = write_project(tmp_path / "p", conda="condapy\n", requirements="tinydep\n",
                            pip_conf=pip_conf_for(pypi.url), files={"materialize.toml": (
                                f'core = "testcore"\ncore-locks = "{locks}"\n'
                                f'[core-sets]\ntestcore = "{testcore["sets"] / "testcore.txt"}"\n')})
    done = cli.ok("lock", project, "--channel", channel_url)
    assert (f"warning: no core lock testcore/pylock.{_tag(RUNNING)}-linux-64.toml for Python {RUNNING} on linux-64: "
            "core set 'testcore' resolved from its open ranges instead") in done.stderr
    assert "scripts/lock-core" in done.stderr
    assert lock_packages(project / "materialize-lock.yml", "pip")["srvdep"] == "1.2"


def test_a_core_lock_made_from_other_requirements_does_not_apply(cli, tmp_path, channel_url, pypi, testcore):
    (tmp_path / "testcore.txt").write_text("srvcore>=1.0\nsrvdep>=1.0\n")
    project = write_project(tmp_path / "p", conda="condapy\n", requirements="tinydep\n",
                            pip_conf=pip_conf_for(pypi.url), files={"materialize.toml": (
                                f'core = "testcore"\ncore-locks = "{testcore["locks"]}"\n'
                                f'[core-sets]\ntestcore = "../testcore.txt"\n')})
    done = cli.ok("lock", project, "--channel", channel_url)
    assert "was made from other requirements than core set 'testcore' has now" in done.stderr


def test_config_names_the_core_lock_a_project_gets(cli, tmp_path, pypi, testcore):
    project = _project(tmp_path, testcore, pypi.url)
    done = cli.ok("config", project)
    line = next(x for x in done.stdout.splitlines() if x.startswith("core-lock "))
    assert f"linux-64, Python {RUNNING}: core lock testcore/pylock.{_tag(RUNNING)}-linux-64.toml" in line
    assert "scripts/lock-core" in done.stdout
    data = json.loads(cli.ok("config", project, "--json").stdout)["data"]
    assert data["core-lock"]["value"] == {
        "linux-64": str(testcore["locks"] / "testcore" / f"pylock.{_tag(RUNNING)}-linux-64.toml")}
    assert data["core-locks"] == {"value": str(testcore["locks"]), "source": f"project {project / 'materialize.toml'}"}

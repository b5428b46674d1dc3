"""Issue 12 rows: the lock's Python is kept like a pin; a Python change names every core package's old and
new version; `config` shows effective, readable values; a channel without `pip` still locks."""

from __future__ import annotations

import json
import re
import shutil
import sys

import pytest

from tests.helpers import lock_packages, pip_conf_for, run_python, write_project

RUNNING = "%d.%d" % sys.version_info[:2]


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def _python_of(project) -> str:
    return lock_packages(project / "materialize-lock.yml", "conda")["python"]


def test_a_plain_lock_keeps_the_python_of_lock_dash_dash_python(cli, tmp_path, channel_url, pypi, other_python,
                                                               running_python):
    project = write_project(tmp_path / "p", conda="condapy\n", requirements="tinydep\n",
                            pip_conf=pip_conf_for(pypi.url))
    other = _minor(other_python)
    cli.ok("lock", project, "--channel", channel_url, "--python", other)
    again = cli.ok("lock", project, "--channel", channel_url)
    assert _python_of(project) == other_python
    assert not [line for line in again.stdout.splitlines() if line.startswith("Python ")]  # no change reported
    assert (f"note: Python {other_python} kept from materialize-lock.yml for linux-64; the python setting "
            f"({RUNNING}, from user config ") in again.stderr
    assert f"applies to new lockfiles only: pass --python {RUNNING} to change it" in again.stderr
    cli.ok("lock", project, "--channel", channel_url, "--check")  # the kept Python is what the inputs say
    cli.ok("lock", project, "--channel", channel_url, "--upgrade")
    assert _python_of(project) == other_python  # --upgrade moves packages, not the Python
    back = cli.ok("lock", project, "--channel", channel_url, env={"MATERIALIZE_PYTHON": RUNNING})
    assert f"Python {other_python} -> {running_python} (linux-64)" in back.stdout
    assert _python_of(project) == running_python


def test_a_project_python_setting_replaces_the_locked_python_loudly(cli, tmp_path, channel_url, pypi, other_python,
                                                                   running_python):
    project = write_project(tmp_path / "p", conda="condapy\n", requirements="tinydep\n",
                            pip_conf=pip_conf_for(pypi.url))
    cli.ok("lock", project, "--channel", channel_url)
    (project / "materialize.toml").write_text(f'python = "{_minor(other_python)}"\n')
    done = cli.ok("lock", project, "--channel", channel_url)
    assert f"Python {running_python} -> {other_python} (linux-64)" in done.stdout


def test_python_change_lists_every_core_package_with_both_versions(cli, tmp_path, channel_url, pypi, other_python,
                                                                  running_python):
    """core-requirements (no core lock): the report still names each core package (the ones the core
    requirements name: without a core lock their dependencies are not known as core), changed or not."""
    project = write_project(tmp_path / "p", conda="condapy\n", requirements="tinydep\n",
                            pip_conf=pip_conf_for(pypi.url))
    cli.ok("lock", project, "--channel", channel_url)
    done = cli.ok("lock", project, "--channel", channel_url, "--python", _minor(other_python), "--json")
    data = json.loads(done.stdout)["data"]
    assert data["core_changes"]["linux-64"] == [{"name": "coreserver", "old": "1.1", "new": "1.1"}]
    text = cli.ok("lock", project, "--channel", channel_url, "--python", RUNNING).stdout
    assert f"Python {other_python} -> {running_python} (linux-64)" in text
    assert ("  core packages for linux-64, resolved from the core set's open ranges:\n"
            "    unchanged: coreserver 1.1\n") in text
    assert "no version changed" not in text


def test_config_shows_effective_readable_values(cli, tmp_path):
    project = write_project(tmp_path / "p", conda="condapy\n")
    done = cli.ok("config", project)
    assert not re.search(r"\bNone\b|\[\]|\{\}|''|\[\'", done.stdout), done.stdout
    rows = {line.split()[0]: line for line in done.stdout.splitlines() if line and not line.startswith(" ")}
    assert re.match(r"platforms +linux-64  \(default: this host's platform\)$", rows["platforms"])
    assert re.match(r"core-requirements +\S+core-requirements.txt  \(user config ", rows["core-requirements"])
    assert re.match(r"core-sets +\(none\)  \(default\)$", rows["core-sets"])
    assert re.match(r"virtual-packages +linux-64: __archspec=1, __glibc=2\.28, __linux=5\.10, __unix=0  \(default\)$",
                    rows["virtual-packages"])
    assert "(shipped with materialize)" in rows["core-locks"]
    assert "core-requirements: resolved from their open ranges (no core lock)" in rows["core-lock"]
    data = json.loads(cli.ok("config", project, "--json").stdout)["data"]
    assert data["platforms"] == {"value": ["linux-64"], "source": "default: this host's platform"}
    assert data["virtual-packages"]["value"]["linux-64"]["__glibc"] == "2.28"


def test_config_names_the_python_a_lockfile_keeps(cli, tmp_path, channel_url, pypi, other_python):
    project = write_project(tmp_path / "p", conda="condapy\n", requirements="tinydep\n",
                            pip_conf=pip_conf_for(pypi.url))
    cli.ok("lock", project, "--channel", channel_url, "--python", _minor(other_python), "--platform", "linux-64")
    data = json.loads(cli.ok("config", project, "--json").stdout)["data"]
    assert data["python"] == {"value": _minor(other_python), "source": "kept from materialize-lock.yml"}
    assert data["platforms"]["source"] == "default: the platforms of materialize-lock.yml"


@pytest.fixture(scope="module")
def channel_without_pip(channel, tmp_path_factory):
    """The test channel, every package but pip (files linked, repodata rewritten)."""
    folder = tmp_path_factory.mktemp("no-pip-channel")
    for subdir in channel.iterdir():
        if not subdir.is_dir():
            continue
        (folder / subdir.name).mkdir()
        for item in subdir.iterdir():
            if item.suffix == ".conda" and not item.name.startswith("pip-"):
                (folder / subdir.name / item.name).symlink_to(item)
        repodata = json.loads((subdir / "repodata.json").read_text())
        for key in ("packages", "packages.conda"):
            repodata[key] = {k: v for k, v in repodata.get(key, {}).items() if v["name"] != "pip"}
        (folder / subdir.name / "repodata.json").write_text(json.dumps(repodata))
    return folder.as_uri()


def test_a_channel_without_pip_locks_without_it_and_says_what_that_costs(cli, tmp_path, channel_without_pip,
                                                                         channel_url, pypi):
    project = write_project(tmp_path / "p", conda="condapy\n", requirements="tinydep\n",
                            pip_conf=pip_conf_for(pypi.url))
    done = cli.ok("lock", project, "--channel", channel_without_pip, "--json")
    notes = json.loads(done.stdout)["data"]["notes"]
    assert [n["level"] for n in notes] == ["warning"]
    assert "the channels have no pip package for linux-64: locked without pip" in notes[0]["message"]
    assert "micromamba and conda-lock" in notes[0]["message"]
    assert "pip" not in lock_packages(project / "materialize-lock.yml", "conda")
    human = cli.ok("lock", project, "--channel", channel_without_pip)
    assert "warning: the channels have no pip package for linux-64" in human.stderr
    cli.ok("install", project, "--prefix", tmp_path / "env")
    assert run_python(tmp_path / "env", "import tinydep, condapy").returncode == 0
    cli.ok("lock", project, "--channel", channel_url)  # the same project on a channel with pip: pip joins
    assert "pip" in lock_packages(project / "materialize-lock.yml", "conda")
    shutil.rmtree(tmp_path / "env")

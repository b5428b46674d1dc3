"""`materialize diff OLD NEW`: lockfile paths, `REV:path` and `REV` of a git repository."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from tests.helpers import pip_conf_for, write_project
from tests.world.git_repos import git

KINDS = ("added", "changed", "downgraded", "removed", "upgraded")
EMPTY = {kind: [] for kind in KINDS}


def _project(root: Path, pypi, conda: str, requirements: str) -> Path:
    return write_project(root, conda=conda, requirements=requirements, pip_conf=pip_conf_for(pypi.url))


def _lock(cli, project: Path, channel_url: str, *platforms: str) -> Path:
    cli.ok("lock", project, "--channel", channel_url, *[a for p in platforms for a in ("--platform", p)])
    return project / "materialize-lock.yml"


def _url(lockfile: Path, name: str, platform: str = "linux-64") -> str:
    data = yaml.safe_load(lockfile.read_text())
    return next(p["url"] for p in data["package"] if p["name"] == name and p["platform"] == platform)


def test_diff_two_lockfiles(cli, tmp_path, channel_url, pypi):
    project = _project(tmp_path / "proj", pypi, "tinyleaf=1.0\n", "tinydep==2.0\nsix==1.16.0\nonlyold\n")
    old = tmp_path / "old-lock.yml"
    shutil.copy(_lock(cli, project, channel_url), old)
    _project(project, pypi, "tinyleaf=2.0\ntinyapp\n", "tinydep==1.0\nsix==1.17.0\n")
    new = _lock(cli, project, channel_url)

    done = cli.ok("diff", old, new)
    assert done.stdout.splitlines() == [
        f"{old} -> {new}",
        "linux-64:",
        "  conda  + tinyapp 1.0",
        "  conda  ^ tinyleaf 1.0 -> 2.0",
        "  pypi   - onlyold 1.0",
        "  pypi   ^ six 1.16.0 -> 1.17.0",
        "  pypi   v tinydep 2.0 -> 1.0",
        "5 changes: 1 added, 1 removed, 2 upgraded, 1 downgraded, 0 changed",
    ]
    envelope = json.loads(cli.ok("diff", old, new, "--json").stdout)
    assert envelope["command"] == "diff" and envelope["status"] == "ok"
    data = envelope["data"]
    assert data["identical"] is False and data["old"] == str(old) and data["new"] == str(new)
    assert data["summary"] == {"added": 1, "removed": 1, "upgraded": 2, "downgraded": 1, "changed": 0}
    assert data["platforms"] == {"old": ["linux-64"], "new": ["linux-64"], "added": [], "removed": []}
    conda, pypi_changes = data["changes"]["linux-64"]["conda"], data["changes"]["linux-64"]["pypi"]
    assert conda["added"] == [{"name": "tinyapp", "old": None,
                               "new": {"version": "1.0", "build": "0", "url": _url(new, "tinyapp")}}]
    assert conda["upgraded"][0]["old"]["version"] == "1.0" and conda["upgraded"][0]["new"]["version"] == "2.0"
    assert pypi_changes["downgraded"] == [{"name": "tinydep", "old": {"version": "2.0", "url": _url(old, "tinydep")},
                                           "new": {"version": "1.0", "url": _url(new, "tinydep")}}]
    assert [c["name"] for c in pypi_changes["removed"]] == ["onlyold"]

    reverse = json.loads(cli.ok("diff", new, old, "--json").stdout)["data"]["summary"]
    assert reverse == {"added": 1, "removed": 1, "upgraded": 1, "downgraded": 2, "changed": 0}


def test_same_version_with_another_build_or_artifact_is_changed(cli, tmp_path, channel_url, pypi):
    project = _project(tmp_path / "proj", pypi, "tinyleaf=2.0\n", "tinydep\n")
    old = _lock(cli, project, channel_url)
    data = yaml.safe_load(old.read_text())
    for package in data["package"]:
        if package["name"] == "tinyleaf":
            package["build"] = "1"
        if package["name"] == "tinydep":
            package["url"] = package["url"].replace("tinydep-2.0-py3-none-any.whl", "tinydep-2.0.tar.gz")
            package["hash"]["sha256"] = "1" * 64
        if package["name"] == "coreserial":
            package["hash"]["sha256"] = "2" * 64
    new = tmp_path / "new-lock.yml"
    new.write_text(yaml.safe_dump(data))
    lines = cli.ok("diff", old, new).stdout.splitlines()
    assert lines[2:] == ["  conda  ~ tinyleaf 2.0: build 0 -> 1",
                         "  pypi   ~ coreserial 1.0: another sha256 for the same file name (a rebuilt artifact, "
                         "or a changed local project)",
                         "  pypi   ~ tinydep 2.0: tinydep-2.0-py3-none-any.whl -> tinydep-2.0.tar.gz",
                         "3 changes: 0 added, 0 removed, 0 upgraded, 0 downgraded, 3 changed"]


def test_platforms_added_and_removed(cli, tmp_path, channel_url, pypi):
    project = _project(tmp_path / "proj", pypi, "tinyapp\n", "tinyweb\n")
    old = tmp_path / "old-lock.yml"
    shutil.copy(_lock(cli, project, channel_url), old)
    new = _lock(cli, project, channel_url, "linux-64", "osx-arm64")
    lines = cli.ok("diff", old, new).stdout.splitlines()
    # tinyapp, tinyleaf, python, pip; tinyweb, tinydep and the core set's coreserver, coreserial
    assert lines[1:] == ["linux-64: no changes", "osx-arm64: new platform (4 conda and 4 PyPI packages)",
                         "8 changes: 8 added, 0 removed, 0 upgraded, 0 downgraded, 0 changed"]
    data = json.loads(cli.ok("diff", old, new, "--json").stdout)["data"]
    assert data["platforms"] == {"old": ["linux-64"], "new": ["linux-64", "osx-arm64"], "added": ["osx-arm64"],
                                 "removed": []}
    assert data["changes"]["linux-64"] == {"conda": EMPTY, "pypi": EMPTY}
    assert [c["name"] for c in data["changes"]["osx-arm64"]["pypi"]["added"]] == [
        "coreserial", "coreserver", "tinydep", "tinyweb"]
    removed = cli.ok("diff", new, old).stdout.splitlines()[2]
    assert removed == "osx-arm64: platform removed (4 conda and 4 PyPI packages)"


def test_identical_lockfiles(cli, tmp_path, channel_url, pypi):
    project = _project(tmp_path / "proj", pypi, "tinyapp\n", "")
    lockfile = _lock(cli, project, channel_url)
    copy = tmp_path / "copy-lock.yml"
    shutil.copy(lockfile, copy)
    assert cli.ok("diff", lockfile, copy).stdout == f"No differences between {lockfile} and {copy}\n"
    data = json.loads(cli.ok("diff", lockfile, copy, "--json").stdout)["data"]
    assert data["identical"] is True and set(data["summary"].values()) == {0}


def test_git_revisions(cli, tmp_path, channel_url, pypi):
    repo = tmp_path / "repo"
    project = _project(repo / "proj", pypi, "tinyleaf=1.0\n", "tinydep==1.0\n")
    git(repo, "init", "-q", "-b", "main")
    _lock(cli, project, channel_url)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "first lock")
    _project(project, pypi, "tinyleaf=2.0\n", "tinydep==2.0\n")
    _lock(cli, project, channel_url)
    expected = ["  conda  ^ tinyleaf 1.0 -> 2.0", "  pypi   ^ tinydep 1.0 -> 2.0"]

    # REV: the project lockfile of the current directory at that revision
    done = cli.ok("diff", "HEAD", "materialize-lock.yml", cwd=project)
    assert done.stdout.splitlines()[0] == "HEAD -> materialize-lock.yml"
    assert done.stdout.splitlines()[2:4] == expected
    git(repo, "commit", "-q", "-am", "second lock")
    assert cli.ok("diff", "HEAD~1", "HEAD", cwd=project).stdout.splitlines()[2:4] == expected
    # REV:path, the path relative to the current directory (here the repository's root)
    done = cli.ok("diff", "HEAD~1:proj/materialize-lock.yml", "HEAD:proj/materialize-lock.yml", cwd=repo)
    assert done.stdout.splitlines()[2:4] == expected
    done = cli.ok("diff", "HEAD:proj/materialize-lock.yml", "proj/materialize-lock.yml", cwd=repo)
    assert done.stdout.startswith("No differences")

    done = cli.fails(3, "diff", "nosuchrev", "HEAD", cwd=project)
    assert done.stderr.splitlines()[0].startswith("error: 'nosuchrev' is neither a lockfile nor a git revision")
    cli.fails(3, "diff", "HEAD:missing-lock.yml", "HEAD", cwd=project)

    (project / "materialize-lock.yml").write_text("version: 7\n")
    git(repo, "commit", "-q", "-am", "broken")
    done = cli.fails(3, "diff", "HEAD~1", "HEAD", cwd=project)
    assert done.stderr.splitlines()[0] == "error: HEAD: not a version-1 conda-lock lockfile (version: 7)"


def test_not_a_lockfile_outside_git(cli, tmp_path):
    done = cli.fails(3, "diff", "old-lock.yml", "new-lock.yml", cwd=tmp_path)
    assert done.stderr.startswith("error: 'old-lock.yml' is neither a lockfile nor a git revision of one: "
                                  "fatal: not a git repository")
    (tmp_path / "bad-lock.yml").write_text("{unclosed\n")
    done = cli.fails(3, "diff", "bad-lock.yml", "bad-lock.yml", cwd=tmp_path)
    assert done.stderr.startswith("error: bad-lock.yml:")
    envelope = json.loads(cli.fails(3, "diff", "a", "b", "--json", cwd=tmp_path).stdout)
    assert envelope["data"] is None and envelope["errors"][0]["kind"] == "invalid-input"

"""Reproducible, incremental, no-op and mountable prefixes (issue 5), against the real engines.

The trees are compared before the environment's Python ever runs without -B: the packaged Python
ships no .pyc, so running it would write __pycache__ folders (which verify ignores, see
materialize/prefix/verify.py), and a byte comparison must see the tree exactly as installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time

import pytest

from tests.helpers import CLI_PATH
from tests.prefix_checks import (NEXT_CONDA, NEXT_PIP, identities, lock_env, make_project, run_env_python,
                                 site_packages, snapshot, tree_diff)


@pytest.fixture(scope="module")
def projects(tmp_path_factory, channel_url, http_channel, pypi, core_file, shared_cache):
    env = lock_env(tmp_path_factory, core_file, shared_cache)
    root = tmp_path_factory.mktemp("repro-projects")
    return {"base": make_project(root / "base", channel_url, pypi.url, env),
            "next": make_project(root / "next", channel_url, pypi.url, env, conda=NEXT_CONDA, pip=NEXT_PIP),
            "http": make_project(root / "http", http_channel, pypi.url, env)}


def _install(cli, project, prefix, cache):
    return cli.ok("install", project, "--prefix", prefix, env={"MATERIALIZE_CACHE_DIR": str(cache)})


def test_same_lockfile_same_path_clean_caches_is_byte_identical(cli, tmp_path, projects):
    prefix = tmp_path / "env"
    _install(cli, projects["base"], prefix, tmp_path / "cache-a")
    first = snapshot(prefix)
    assert not [p for p in first if p.endswith((".pyc", ".pyo"))], "no bytecode is compiled at install"
    for dist_info in site_packages(prefix).glob("*.dist-info"):
        assert not (dist_info / "uv_cache.json").exists()
        assert not (dist_info / "direct_url.json").exists(), f"{dist_info.name} records where its wheel came from"
    shutil.move(prefix, tmp_path / "first")
    time.sleep(1.1)  # another second: download times, mtimes and install times all differ
    _install(cli, projects["base"], prefix, tmp_path / "cache-b")
    assert tree_diff(first, snapshot(prefix)) == []
    cli.ok("verify", projects["base"], "--prefix", prefix)


def test_an_install_from_remembered_answers_equals_one_from_a_clean_cache(cli, tmp_path, projects):
    """The second install with the same cache reads what the first remembered (the parsed lockfile,
    each conda package's files as linked, each wheel's layout, the overlap check) instead of the
    archives and the prefix: the same tree, byte for byte, expected.json included."""
    cache = tmp_path / "cache"
    _install(cli, projects["base"], tmp_path / "first", cache)
    remembered = {p.name for p in cache.iterdir() if p.is_dir() and any(p.iterdir())}
    assert {"lockfiles-v1", "conda-linked-v1", "wheel-layouts-v1", "no-overlap-v1"} <= remembered, remembered
    first = snapshot(tmp_path / "first")
    shutil.move(tmp_path / "first", tmp_path / "env")
    _install(cli, projects["base"], tmp_path / "first", cache)
    assert tree_diff(snapshot(tmp_path / "first"), first) == []
    shutil.rmtree(tmp_path / "first")
    _install(cli, projects["base"], tmp_path / "first", tmp_path / "clean-cache")
    assert tree_diff(snapshot(tmp_path / "first"), first) == []
    cli.ok("verify", projects["base"], "--prefix", tmp_path / "first")


def test_update_changes_only_what_changed_and_equals_a_fresh_install(cli, tmp_path, projects):
    prefix = tmp_path / "env"
    _install(cli, projects["base"], prefix, tmp_path / "cache")
    site = site_packages(prefix).relative_to(prefix).as_posix()
    python = next(p.name for p in (prefix / "bin").glob("python3.*") if not p.name.endswith("-config"))
    unchanged = [f"bin/{python}", "bin/tinyapp", "share/tinyleaf/VERSION", "conda-meta/tinyapp-1.0-0.json",
                 f"{site}/pip/__init__.py", f"{site}/pip-23.2.1.dist-info/RECORD",  # a conda-provided distribution
                 f"{site}/coreserial/__init__.py", f"{site}/coreserver/__init__.py",
                 f"{site}/coreserver-1.1.dist-info/RECORD"]
    before = identities(prefix, unchanged)
    done = _install(cli, projects["next"], prefix, tmp_path / "cache")
    assert "conda +1 -1, PyPI +1 -2" in done.stdout, done.stdout
    assert identities(prefix, unchanged) == before, "files of unchanged packages were rewritten"
    assert (site_packages(prefix) / "six-1.16.0.dist-info" / "INSTALLER").read_text().strip() == "conda"
    assert not list(site_packages(prefix).glob("six-1.17.0.dist-info")), "the PyPI six is still there"
    assert not (site_packages(prefix) / "condapy").exists() and not (site_packages(prefix) / "tinyweb").exists()
    updated = snapshot(prefix)
    shutil.move(prefix, tmp_path / "updated")
    _install(cli, projects["next"], prefix, tmp_path / "clean-cache")
    assert tree_diff(snapshot(prefix), updated) == [], "an updated prefix differs from a fresh install"

    fresh_next = snapshot(prefix)  # and back: adds on both sides
    done = _install(cli, projects["base"], prefix, tmp_path / "cache")
    assert "conda +1 -1, PyPI +3 -0" in done.stdout, done.stdout
    shutil.move(prefix, tmp_path / "back")
    _install(cli, projects["base"], prefix, tmp_path / "cache")
    assert tree_diff(snapshot(tmp_path / "back"), snapshot(prefix)) == []
    assert fresh_next != snapshot(prefix)


def test_noop_install_writes_nothing_and_imports_nothing_heavy(cli, tmp_path, projects):
    prefix = tmp_path / "env"
    _install(cli, projects["base"], prefix, tmp_path / "cache")
    manifest = prefix / ".materialize" / "expected.json"
    stamp_mtime = manifest.stat().st_mtime_ns
    argv = [sys.executable, "-X", "importtime", str(CLI_PATH), "install", str(projects["base"]),
            "--prefix", str(prefix)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert "is up to date" in done.stdout
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    heavy = sorted(m for m in imported if m.split(".")[0] in
                   {"rattler", "conda_lock", "rich", "yaml", "uv", "filelock", "packaging", "pydantic", "platformdirs"})
    assert heavy == [], f"the no-op path imported {heavy}"
    assert not any(m in {"materialize.prefix.install", "materialize.engines.conda", "materialize.prefix.pypi",
                         "materialize.resolve.lock", "materialize.prefix.verify", "materialize.engines.fetch"}
                   for m in imported)
    assert manifest.stat().st_mtime_ns == stamp_mtime


def test_prefix_points_nowhere_outside_itself(cli, tmp_path, projects, found_interpreters, channel, pypi):
    """Mountable: over HTTP (conda and PyPI), nothing names the cache, the project, a temp folder or
    the interpreter the test Python was packaged from; every link stays inside."""
    prefix = tmp_path / "env"
    cache = tmp_path / "cache"
    _install(cli, projects["http"], prefix, cache)
    leaks = re.compile(re.escape(str(tmp_path).encode()) + rb"(?!/env[/\"'\s:])")
    roots = [str(i.prefix).encode() for i in found_interpreters]
    elsewhere = [str(p).encode() for p in (projects["http"], channel, pypi.packages_dir)]
    found = []
    for path in sorted(p for p in prefix.rglob("*") if not p.is_dir() or p.is_symlink()):
        rel = path.relative_to(prefix).as_posix()
        if path.is_symlink():
            target = (path.parent / path.readlink()).resolve()
            if prefix.resolve() not in target.parents:
                found.append(f"{rel} -> {target}")
            continue
        data = path.read_bytes()
        if leaks.search(data) or any(n in data for n in [b"/materialize-pip-", b"/materialize-cred-", *elsewhere]):
            found.append(f"{rel}: names a path outside the prefix")
        text_file = b"\0" not in data[:8192]
        if text_file and not rel.startswith("conda-meta/") and any(root in data for root in roots):
            found.append(f"{rel}: names the interpreter it was packaged from")
    assert found == []
    done = run_env_python(prefix, "import sys, tinyweb; print(sys.prefix); print(sys.base_prefix); "
                                  "print(tinyweb.__file__); print(*sys.path, sep='\\n')")
    assert done.returncode == 0, done.stderr
    paths = [line for line in done.stdout.splitlines() if line]
    assert paths and all(line.startswith(str(prefix)) for line in paths), paths

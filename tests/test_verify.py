"""`materialize verify`, and the integrity checks of install (tampered lockfile, corrupted cache)."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import yaml

from tests.helpers import run_python
from tests.prefix_checks import base_and_next, edit_lock, installed_once, site_packages


@pytest.fixture(scope="module")
def projects(tmp_path_factory, channel_url, pypi, core_file, shared_cache):
    return base_and_next(tmp_path_factory, channel_url, pypi.url, core_file, shared_cache, "verify")


@pytest.fixture(scope="module")
def installed(tmp_path_factory, projects, shared_cache):
    """One installed prefix, copied by the tests that change it."""
    return installed_once(tmp_path_factory, projects["base"], shared_cache, "verify")


def test_clean_prefix_verifies_in_text_and_json(cli, projects, installed):
    done = cli.ok("verify", projects["base"], "--prefix", installed)
    assert "matches materialize-lock.yml and its expected state" in done.stdout
    envelope = json.loads(cli.ok("verify", projects["base"], "--prefix", installed, "--json").stdout)
    assert envelope["exit_code"] == 0
    assert sorted(envelope["data"]) == ["by_package", "checked_files", "lockfile", "missing", "modified", "ok",
                                        "prefix", "problems", "unexpected"]
    assert envelope["data"]["ok"] is True and envelope["data"]["checked_files"] > 1000


def test_runtime_bytecode_is_not_drift(cli, projects, installed):
    done = run_python(installed, "import tinyweb, json, condapy")  # without -B: writes __pycache__
    assert done.returncode == 0, done.stderr
    assert list(installed.rglob("__pycache__/*.pyc")), "running the env's Python writes bytecode"
    cli.ok("verify", projects["base"], "--prefix", installed)


def test_drift_is_listed_by_package(cli, tmp_path, projects, shared_cache):
    prefix = tmp_path / "env"
    cli.ok("install", projects["base"], "--prefix", prefix)
    site = site_packages(prefix)
    rel_site = site.relative_to(prefix).as_posix()
    (prefix / "bin" / "tinyapp").write_text("#!/bin/sh\necho changed\n")  # modified (conda)
    os.chmod(site / "coreserial" / "__init__.py", 0o600)  # modified: mode only (PyPI)
    (site / "tinyweb" / "__init__.py").unlink()  # missing (PyPI)
    (prefix / "share" / "tinyleaf" / "VERSION").unlink()  # missing (conda)
    (prefix / "etc").mkdir()
    (prefix / "etc" / "local.cfg").write_text("x = 1\n")  # unexpected
    done = cli.fails(6, "verify", projects["base"], "--prefix", prefix)
    assert "2 modified, 2 missing, 1 unexpected files" in done.stdout
    lines = done.stdout.splitlines()
    expected_groups = {
        "  conda:tinyapp": "    modified   bin/tinyapp",
        "  conda:tinyleaf": "    missing    share/tinyleaf/VERSION",
        "  pypi:coreserial": f"    modified   {rel_site}/coreserial/__init__.py",
        "  pypi:tinyweb": f"    missing    {rel_site}/tinyweb/__init__.py",
        "  (no package)": "    unexpected etc/local.cfg",
    }
    for group, line in expected_groups.items():
        assert lines[lines.index(group) + 1] == line, done.stdout
    assert done.stderr.startswith("error: ") and "does not match what was installed" in done.stderr
    envelope = json.loads(cli("verify", projects["base"], "--prefix", prefix, "--json").stdout)
    assert envelope["exit_code"] == 6 and envelope["errors"][0]["kind"] == "integrity"
    data = envelope["data"]
    assert data["ok"] is False
    assert data["by_package"]["conda:tinyapp"] == {"modified": ["bin/tinyapp"], "missing": [], "unexpected": []}
    assert data["unexpected"] == [{"path": "etc/local.cfg", "package": "(no package)"}]


def test_another_lockfile_and_an_unfinished_install_are_drift(cli, projects, installed, tmp_path):
    other = projects["next"] / "materialize-lock.yml"
    done = cli.fails(6, "verify", projects["base"], "--prefix", installed, "--lockfile", other)
    assert "installed from another lockfile than materialize-lock.yml" in done.stdout
    assert "conda package six 1.16.0-py_0" in done.stdout and "is in the lockfile but not installed" in done.stdout
    assert "conda package condapy 1.0-py_0" in done.stdout and "is installed but not in the lockfile" in done.stdout
    assert "PyPI package tinydep: installed 2.0" in done.stdout
    stamp = installed / ".materialize" / "stamp.json"
    saved = stamp.read_bytes()
    stamp.unlink()
    try:
        done = cli.fails(6, "verify", projects["base"], "--prefix", installed)
        assert "the last install did not finish" in done.stdout
    finally:
        stamp.write_bytes(saved)
    cli.fails(3, "verify", projects["base"], "--prefix", tmp_path / "nowhere")


def test_verify_without_a_lockfile_checks_the_expected_state(cli, installed, tmp_path):
    done = cli.ok("verify", tmp_path, "--prefix", installed)
    assert "matches its expected state (no lockfile given)" in done.stdout


# --- integrity: every artifact is checked against the lockfile before it is linked -----------------


def test_tampered_sha256_or_url_is_refused_before_the_prefix_changes(cli, tmp_path, projects, installed):
    base = projects["base"] / "materialize-lock.yml"
    before = (installed / ".materialize" / "stamp.json").read_bytes()
    env = {"MATERIALIZE_CACHE_DIR": str(tmp_path / "cache")}

    def bad_sha(package):
        if package["name"] == "tinyleaf":
            package["hash"]["sha256"] = "0" * 64

    def other_url(package):  # tinyleaf 2.0's hash, tinyleaf 1.0's archive
        if package["name"] == "tinyleaf":
            package["url"] = package["url"].replace("tinyleaf-2.0-0", "tinyleaf-1.0-0")

    def bad_wheel(package):
        if package["name"] == "tinyweb":
            package["hash"]["sha256"] = "f" * 64

    for edit in (bad_sha, other_url, bad_wheel):
        lock = edit_lock(base, tmp_path / f"{edit.__name__}-lock.yml", edit)
        done = cli.fails(6, "install", projects["base"], "--lockfile", lock, "--prefix", installed, env=env)
        assert "does not match the lockfile's" in done.stderr
    assert (installed / ".materialize" / "stamp.json").read_bytes() == before
    cli.ok("verify", projects["base"], "--prefix", installed)


def test_a_lockfile_that_replaces_a_conda_distribution_from_pypi_is_refused(cli, tmp_path, projects, installed):
    data = yaml.safe_load((projects["base"] / "materialize-lock.yml").read_text())
    wheel = next(p for p in data["package"] if p["name"] == "tinydep")
    data["package"].append({**wheel, "name": "condapy"})  # condapy's distribution comes from conda
    lock = tmp_path / "overlap-lock.yml"
    lock.write_text(yaml.safe_dump(data, sort_keys=False))
    for _ in range(2):  # a refused lockfile is not remembered as a clean one
        done = cli.fails(6, "install", projects["base"], "--lockfile", lock, "--prefix", installed)
        assert "installs condapy from PyPI, but the conda package(s) condapy provide it" in done.stderr
    cli.ok("verify", projects["base"], "--prefix", installed)


def test_corrupted_cached_artifacts_are_refused_then_fetched_again(cli, tmp_path, projects):
    cache = tmp_path / "cache"
    env = {"MATERIALIZE_CACHE_DIR": str(cache)}
    cli.ok("install", projects["base"], "--prefix", tmp_path / "one", env=env)
    archive = next(cache.glob("conda-archives-v1/*/tinyapp-*.conda"))
    wheel = next(cache.glob("wheels-v1/*/tinyweb-*.whl"))
    for corrupt in (archive, wheel):
        data = bytearray(corrupt.read_bytes())
        data[len(data) // 2] ^= 0xFF
        corrupt.write_bytes(bytes(data))
        done = cli.fails(6, "install", projects["base"], "--prefix", tmp_path / "two", env=env)
        assert f"cached {corrupt.name} is corrupted" in done.stderr
        assert not corrupt.exists(), "the corrupted entry stays in the cache"
    cli.ok("install", projects["base"], "--prefix", tmp_path / "two", env=env)
    cli.ok("verify", projects["base"], "--prefix", tmp_path / "two")


def test_a_corrupted_extraction_in_rattlers_cache_is_not_linked(cli, tmp_path, projects):
    cache = tmp_path / "cache"
    env = {"MATERIALIZE_CACHE_DIR": str(cache)}
    cli.ok("install", projects["base"], "--prefix", tmp_path / "one", env=env)
    extracted = next(cache.glob("rattler-v1/tinyleaf-2.0-*/share/tinyleaf/VERSION"))
    extracted.write_text("tampered\n")
    cli.ok("install", projects["base"], "--prefix", tmp_path / "two", env=env)
    assert (tmp_path / "two" / "share" / "tinyleaf" / "VERSION").read_text() != "tampered\n"
    assert (tmp_path / "one" / "share" / "tinyleaf" / "VERSION").read_text() != "tampered\n", "shared inode"
    cli.ok("verify", projects["base"], "--prefix", tmp_path / "two")
    shutil.rmtree(tmp_path / "one")

"""A prefix changed behind materialize's back: by rattler, pip or uv (packages removed, added or
replaced), by hand (a record deleted, a file edited), or inside uv's unpacked-archive cache.

`install` notices every package-level change cheaply (the stamp's fingerprint of the package
records) and converges on the lock; an edit inside a package's files is for `verify` to find and
`install --repair` to undo. The expected digests come from the artifacts themselves, so an altered
file is caught even where the wheel's RECORD carries no hashes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests.helpers import BIN, run_python
from tests.prefix_checks import base_and_next, site_packages, snapshot, tree_diff


@pytest.fixture(scope="module")
def projects(tmp_path_factory, channel_url, pypi, core_file, shared_cache):
    return base_and_next(tmp_path_factory, channel_url, pypi.url, core_file, shared_cache, "oob")


@pytest.fixture
def prefix_and_reference(cli, tmp_path, projects):
    prefix = tmp_path / "env"
    cli.ok("install", projects["base"], "--prefix", prefix)
    return prefix, snapshot(prefix)


RATTLER_SWAP = """
import asyncio, os, sys
from pathlib import Path
from rattler import PrefixRecord, RepoDataRecord, install
prefix, archive, drop = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
records = [PrefixRecord.from_path(p) for p in sorted((prefix / "conda-meta").glob("*.json"))]
wanted = [r for r in records if r.name.normalized not in (drop, "tinyleaf")]
async def main():
    wanted.append(await RepoDataRecord.from_package_archive(archive))
    await install(wanted, target_prefix=prefix, installed_packages=records, show_progress=False)
asyncio.run(main())
sys.stdout.flush()
os._exit(0)
"""


def _converges(cli, project, prefix, reference, expect: str) -> None:
    done = cli.ok("install", project, "--prefix", prefix)
    assert expect in done.stdout, done.stdout
    assert "is up to date" not in done.stdout
    cli.ok("verify", project, "--prefix", prefix)
    assert tree_diff(reference, snapshot(prefix)) == []


def test_rattler_removing_and_replacing_packages_is_repaired(cli, projects, prefix_and_reference, channel):
    prefix, reference = prefix_and_reference
    other_leaf = channel / "noarch" / "tinyleaf-1.0-0.conda"  # the lock has tinyleaf 2.0
    done = subprocess.run([sys.executable, "-c", RATTLER_SWAP, str(prefix), str(other_leaf), "tinyapp"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (prefix / "conda-meta" / "tinyleaf-1.0-0.json").exists() and not (prefix / "bin" / "tinyapp").exists()
    cli.fails(6, "verify", projects["base"], "--prefix", prefix)
    _converges(cli, projects["base"], prefix, reference, "its packages were changed by another tool")


def test_a_package_uv_or_pip_added_or_removed_is_repaired(cli, projects, prefix_and_reference, pypi):
    prefix, reference = prefix_and_reference
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "VIRTUAL_ENV"))}
    done = subprocess.run([str(BIN / "uv"), "pip", "install", "--no-config", "--python", str(prefix / "bin" / "python"),
                           "--index-url", pypi.url, "--no-deps", "tinydep==1.0", "--reinstall"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    _converges(cli, projects["base"], prefix, reference, "its packages were changed by another tool")
    shutil.rmtree(site_packages(prefix) / "tinyweb-1.0.dist-info")
    _converges(cli, projects["base"], prefix, reference, "its packages were changed by another tool")


def test_a_deleted_record_is_repaired(cli, projects, prefix_and_reference):
    prefix, reference = prefix_and_reference
    next((prefix / "conda-meta").glob("condapy-*.json")).unlink()
    _converges(cli, projects["base"], prefix, reference, "its packages were changed by another tool")


def test_an_edited_file_is_found_by_verify_and_undone_by_repair(cli, projects, prefix_and_reference):
    prefix, reference = prefix_and_reference
    module = site_packages(prefix) / "six.py"
    module.write_bytes(module.read_bytes().replace(b"import", b"imp0rt", 1))
    assert "is up to date" in cli.ok("install", projects["base"], "--prefix", prefix).stdout  # the cheap check
    done = cli.fails(6, "verify", projects["base"], "--prefix", prefix)
    assert "modified" in done.stdout and "pypi:six" in done.stdout
    done = cli.ok("install", projects["base"], "--prefix", prefix, "--repair")
    assert "reinstalled 1 altered packages (pypi:six)" in done.stdout, done.stdout
    cli.ok("verify", projects["base"], "--prefix", prefix)
    assert tree_diff(reference, snapshot(prefix)) == []


def test_an_altered_file_in_uvs_cache_is_caught_and_repaired(cli, tmp_path, channel_url, pypi):
    """Same size, other bytes, inside uv's unpacked archive; the wheel's RECORD lists no hashes."""
    from tests.helpers import pip_conf_for, write_project
    from tests.world import wheels

    pypi.add(wheels.build_wheel(wheels.Dist("plainrecord", "1.0"), tmp_path / "wheels", record_hashes=False))
    project = write_project(tmp_path / "p", conda="condapy\n", requirements="plainrecord\n",
                            pip_conf=pip_conf_for(pypi.url))
    cache = tmp_path / "cache"
    env = {"MATERIALIZE_CACHE_DIR": str(cache)}
    cli.ok("lock", project, "--channel", channel_url, env=env)
    cli.ok("install", project, "--prefix", tmp_path / "first", env=env)
    unpacked = list(cache.glob("uv-*/archive-v0/*/plainrecord/__init__.py"))
    assert unpacked, sorted(p.name for p in cache.iterdir())
    for path in unpacked:
        data = path.read_bytes()
        path.write_bytes(data[:-2] + (b"?\n" if data.endswith(b"!\n") else b"!\n"))
    prefix = tmp_path / "env"
    cli.ok("install", project, "--prefix", prefix, env=env)
    done = cli.fails(6, "verify", project, "--prefix", prefix)
    assert "pypi:plainrecord" in done.stdout and "modified   lib/" in done.stdout, done.stdout
    cli.ok("install", project, "--prefix", prefix, "--repair", env=env)
    cli.ok("verify", project, "--prefix", prefix)
    assert run_python(prefix, "import plainrecord; print(plainrecord.__version__)").stdout.strip() == "1.0"


def test_a_malformed_line_of_expected_state_is_exit_6_then_repaired(cli, projects, prefix_and_reference):
    """expected.json as install writes it (a line per package, so that a kept package's line is
    written back unparsed): one package's files made invalid JSON on its line. The other packages
    still read; verify names the broken one (exit 6) and `install --repair` rewrites it."""
    prefix, reference = prefix_and_reference
    path = prefix / ".materialize" / "expected.json"
    lines = path.read_text().split("\n")
    at = next(i for i, line in enumerate(lines) if line.startswith('"pypi:'))
    assert lines[at].startswith('"pypi:') and '{"files":{' in lines[at], lines[at][:80]
    lines[at] = lines[at].replace('{"files":{', '{"files":{[', 1)  # the identity at its end still reads
    path.write_text("\n".join(lines))
    failed = cli.fails(6, "verify", projects["base"], "--prefix", prefix)
    assert "malformed" in failed.stdout + failed.stderr and "Traceback" not in failed.stderr
    cli.ok("install", projects["base"], "--prefix", prefix, "--repair")
    cli.ok("verify", projects["base"], "--prefix", prefix)
    assert tree_diff(reference, snapshot(prefix)) == []


def test_an_emptied_prefix_is_installed_again(cli, projects, prefix_and_reference):
    """`rm -rf env/*` leaves only `.materialize/` (the glob skips it): nothing of the recorded state
    is there any more, so nothing is kept."""
    prefix, reference = prefix_and_reference
    for child in prefix.iterdir():
        if child.name != ".materialize":
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    _converges(cli, projects["base"], prefix, reference, "Installed")
    assert run_python(prefix, "import tinyweb, condapy").returncode == 0


def test_a_malformed_expected_state_is_exit_6_then_repaired(cli, projects, prefix_and_reference):
    """One package's entries in expected.json made unreadable: verify says so (exit 6, no traceback)
    and `install --repair` installs that package again."""
    import json

    prefix, reference = prefix_and_reference
    path = prefix / ".materialize" / "expected.json"
    data = json.loads(path.read_text())
    key = next(k for k in sorted(data["packages"]) if k.startswith("pypi:"))
    first = next(iter(data["packages"][key]["files"]))
    data["packages"][key]["files"][first] = {"not": "a file entry"}
    path.write_text(json.dumps(data))
    failed = cli.fails(6, "verify", projects["base"], "--prefix", prefix)
    assert "malformed" in failed.stdout + failed.stderr and "Traceback" not in failed.stderr
    cli.ok("install", projects["base"], "--prefix", prefix, "--repair")
    cli.ok("verify", projects["base"], "--prefix", prefix)
    assert tree_diff(reference, snapshot(prefix)) == []

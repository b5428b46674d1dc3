"""Self-tests of the hermetic conda channel: archives, packaged interpreters, index, server, cache.

Installs go through rattler itself, into prefixes that were never the interpreters' build paths.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest
import zstandard

from tests.world.conda_channel import (
    ChannelServer,
    build_channel,
    cached_channel,
    host_subdir,
    standard_test_packages,
)
from tests.world.conda_packages import (
    PREFIX_PLACEHOLDER,
    CondaPackage,
    python_dist_package,
    write_conda,
)
from tests.world.interpreters import find_interpreters

rattler = pytest.importorskip("rattler")
from rattler.exceptions import SolverError  # noqa: E402

INTERPRETERS = find_interpreters()
RUNNING = next(i for i in INTERPRETERS if i.prefix == Path(sys.base_prefix))
FOREIGN = ("3.11.7", "linux-aarch64")


def _run_rattler(coro):
    result = asyncio.run(coro)
    time.sleep(0.05)  # rattler's exit crash (docs/engines.md) mitigation
    return result


def solve(channel: str, specs, subdir: str | None = None, virtual=None):
    subdir = subdir or host_subdir()
    virtual = rattler.VirtualPackage.detect() if virtual is None else virtual
    return _run_rattler(rattler.solve(
        [rattler.Channel(channel)], specs, platforms=[subdir, "noarch"], virtual_packages=virtual,
    ))


def solve_install(channel: str, specs, prefix: Path, cache: Path):
    records = solve(channel, specs)
    _run_rattler(rattler.install(records, prefix, cache_dir=cache, show_progress=False))
    return {r.name.normalized: str(r.version) for r in records}


def conda_members(path: Path) -> dict[str, dict[str, bytes]]:
    """{zip member: {tar member: bytes}} of a .conda archive (metadata.json as {"": bytes})."""
    out: dict[str, dict[str, bytes]] = {}
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            data = zf.read(name)
            if not name.endswith(".tar.zst"):
                out[name] = {"": data}
                continue
            raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read()
            with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
                out[name] = {m.name: tar.extractfile(m).read() if m.isfile() else m.linkname.encode()
                             for m in tar.getmembers()}
    return out


@pytest.fixture(scope="module")
def channel(tmp_path_factory) -> Path:
    return build_channel(tmp_path_factory.mktemp("channel"), standard_test_packages(), INTERPRETERS, [FOREIGN])


@pytest.fixture(scope="module")
def env(channel, tmp_path_factory) -> Path:
    """The running interpreter's python + standard packages, installed at a fresh path."""
    prefix = tmp_path_factory.mktemp("envs") / "a much" / "longer-new-prefix"
    specs = [f"python =={RUNNING.version}", "condapy", "six", "tinyapp", "pip"]
    solve_install(str(channel), specs, prefix, tmp_path_factory.mktemp("pkgs"))
    return prefix


def test_write_conda_is_deterministic_and_well_formed(tmp_path):
    pkg = next(p for p in standard_test_packages() if p.name == "tinyapp")
    first, second = write_conda(pkg, tmp_path / "a"), write_conda(pkg, tmp_path / "b")
    assert first.name == "tinyapp-1.0-0.conda" and first.parent.name == "noarch"
    assert first.read_bytes() == second.read_bytes()
    members = conda_members(first)
    assert json.loads(members["metadata.json"][""]) == {"conda_pkg_format_version": 2}
    info, payload = members["info-tinyapp-1.0-0.tar.zst"], members["pkg-tinyapp-1.0-0.tar.zst"]
    assert set(payload) == {"bin/tinyapp"}
    paths = json.loads(info["info/paths.json"])
    assert paths["paths_version"] == 1
    [entry] = paths["paths"]
    assert entry["file_mode"] == "text" and entry["prefix_placeholder"] == PREFIX_PLACEHOLDER
    assert entry["size_in_bytes"] == len(payload["bin/tinyapp"])
    assert info["info/has_prefix"].decode().split() == [f'"{PREFIX_PLACEHOLDER}"', "text", '"bin/tinyapp"']
    index = json.loads(info["info/index.json"])
    assert index["depends"] == ["tinyleaf >=2"] and index["noarch"] == "generic"


def test_python_dist_package_layout(tmp_path):
    pkg = python_dist_package("Foo.Bar-baz", "1.0", depends=["six"])
    assert pkg.depends == ("python", "six") and pkg.noarch == "python"
    assert set(pkg.files) == {
        "site-packages/foo_bar_baz/__init__.py",
        "site-packages/foo_bar_baz-1.0.dist-info/METADATA",
        "site-packages/foo_bar_baz-1.0.dist-info/INSTALLER",
        "site-packages/foo_bar_baz-1.0.dist-info/RECORD",
    }
    record = pkg.files["site-packages/foo_bar_baz-1.0.dist-info/RECORD"].decode().splitlines()
    assert "foo_bar_baz-1.0.dist-info/RECORD,," in record and len(record) == 4
    info = conda_members(write_conda(pkg, tmp_path))[f"info-{pkg.stem}.tar.zst"]
    link = json.loads(info["info/link.json"])
    assert link == {"noarch": {"type": "python"}, "package_metadata_version": 1}


def test_find_interpreters_always_has_the_running_one():
    minors = [i.minor for i in INTERPRETERS]
    assert len(minors) == len(set(minors))
    assert [i.version_tuple for i in INTERPRETERS] == sorted(i.version_tuple for i in INTERPRETERS)
    assert RUNNING.version == ".".join(map(str, sys.version_info[:3]))


def test_channel_is_indexed(channel):
    assert not (channel / ".tmp").exists()
    for subdir in ("noarch", host_subdir(), FOREIGN[1]):
        assert (channel / subdir / "repodata.json").is_file()
    noarch = json.loads((channel / "noarch" / "repodata.json").read_text())
    names = {r["name"] for r in noarch["packages.conda"].values()}
    assert {"tinyleaf", "tinyapp", "tinyconflict", "condapy", "six", "pip"} <= names


@pytest.mark.parametrize("interp", INTERPRETERS, ids=[i.version for i in INTERPRETERS])
def test_packaged_python_runs_relocated(channel, interp, tmp_path):
    prefix = tmp_path / "relocated" / f"py{interp.minor}"
    solve_install(str(channel), [f"python =={interp.version}"], prefix, tmp_path / "pkgs")
    code = "import sys, ssl, sqlite3, ctypes, json; print(sys.version); print(sys.prefix)"
    out = subprocess.run([prefix / "bin" / "python", "-c", code], capture_output=True, text=True,
                         check=True, env={"PATH": "/usr/bin:/bin"}).stdout.splitlines()
    assert out[0].startswith(interp.version)
    assert Path(out[1]).resolve() == prefix.resolve()
    ldd = subprocess.run(["ldd", prefix / "bin" / f"python{interp.minor}"], capture_output=True,
                         text=True, check=True).stdout
    [line] = [ln for ln in ldd.splitlines() if "libpython" in ln]
    resolved = Path(line.split("=>")[1].split("(")[0].strip()).resolve()
    assert resolved.is_relative_to(prefix.resolve()), line


def test_noarch_python_and_prefix_files_land_in_env(env):
    code = "import condapy, six, pip; print(condapy.__file__); print(six.VALUE)"
    out = subprocess.run([env / "bin" / "python", "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    site = env / "lib" / f"python{RUNNING.minor}" / "site-packages"
    assert Path(out[0]) == site / "condapy" / "__init__.py"
    assert out[1] == "six 1.16.0"
    assert (site / "six-1.16.0.dist-info" / "METADATA").is_file()
    pip = subprocess.run([env / "bin" / "python", "-m", "pip", "--version"], capture_output=True,
                         text=True, check=True).stdout
    assert str(site / "pip") in pip
    script = (env / "bin" / "tinyapp").read_text()
    assert PREFIX_PLACEHOLDER not in script and str(env) in script
    ran = subprocess.run([env / "bin" / "tinyapp"], capture_output=True, text=True, check=True)
    assert ran.stdout.splitlines() == [f"tinyapp prefix={env}", "2.0"]


def test_conflict_and_foreign_python_solve(channel):
    leaf = {r.name.normalized: str(r.version) for r in solve(str(channel), ["tinyconflict"])}
    assert leaf["tinyleaf"] == "0.5"
    with pytest.raises(SolverError):
        solve(str(channel), ["tinyapp", "tinyconflict"])
    [record] = solve(str(channel), ["python 3.11.*"], subdir=FOREIGN[1], virtual=[])
    assert (str(record.version), record.subdir) == FOREIGN


def test_channel_server_serves_installable_channel(channel, tmp_path):
    with ChannelServer(channel) as server:
        assert server.url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(f"{server.url}/noarch/repodata.json") as resp:
            assert "tinyleaf-2.0-0.conda" in json.load(resp)["packages.conda"]
        got = solve_install(server.url, ["tinyapp"], tmp_path / "env", tmp_path / "pkgs")
    assert got == {"tinyapp": "1.0", "tinyleaf": "2.0"}
    assert (tmp_path / "env" / "share" / "tinyleaf" / "VERSION").read_text() == "2.0\n"


def test_cached_channel_builds_once(tmp_path):
    packages = [CondaPackage("tinyleaf", "1.0", files={"share/x": b"1\n"})]
    first = cached_channel(tmp_path, packages, (), [FOREIGN])
    stamp = (first / "noarch" / "repodata.json").stat().st_mtime_ns
    assert cached_channel(tmp_path, packages, (), [FOREIGN]) == first
    assert (first / "noarch" / "repodata.json").stat().st_mtime_ns == stamp
    other = cached_channel(tmp_path, packages + [CondaPackage("tinyleaf", "2.0")], (), ())
    assert other != first and (other / "noarch" / "tinyleaf-2.0-0.conda").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.name, other.name])
    assert os.access(first, os.R_OK | os.X_OK)


def test_channel_server_ranges_as_nginx_does_and_counts_bytes(channel):
    archive = next((channel / "noarch").glob("tinyleaf-2.0-*.conda"))
    data, path = archive.read_bytes(), f"/noarch/{archive.name}"

    def get(server, byte_range):
        request = urllib.request.Request(server.url + path, headers={"Range": byte_range} if byte_range else {})
        try:
            with urllib.request.urlopen(request) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as err:
            return err.code, b""

    with ChannelServer(channel, ranges=True) as server:
        assert get(server, "bytes=-10") == (206, data[-10:])
        assert get(server, "bytes=5-9") == (206, data[5:10])
        assert get(server, "bytes=7-") == (206, data[7:])
        assert get(server, f"bytes={len(data)}-")[0] == 416
        assert server.served == [(path, 206, 10), (path, 206, 5), (path, 206, len(data) - 7), (path, 416, 0)]
    with ChannelServer(channel) as plain:
        assert get(plain, "bytes=-10") == (200, data)
        assert plain.served == [(path, 200, len(data))]

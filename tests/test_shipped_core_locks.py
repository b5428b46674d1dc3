"""Issue 15: the core locks shipped in lockfiles/ parse, fit their targets and their core sets, and reach an
installed (non-editable) materialize as package data."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tomllib
import urllib.request
import zipfile
from pathlib import Path

import pytest
from packaging.pylock import Pylock
from packaging.requirements import Requirement
from packaging.version import Version

from materialize.engines import wheel_tags
from materialize.resolve import core, core_refresh
from tests.helpers import lock_packages, write_project
from tests.world import pypi_server, wheels

REPO = Path(__file__).resolve().parent.parent
LOCKFILES = REPO / "lockfiles"
SETS = sorted(p.stem for p in core_refresh.BUILTIN_SETS.glob("*.txt"))
SHIPPED = sorted(LOCKFILES.glob("*/pylock.*.toml"))
RUNNING = "%d.%d" % sys.version_info[:2]
_MACHINE = {"linux-64": ("Linux", "linux", "x86_64"), "linux-aarch64": ("Linux", "linux", "aarch64"),
            "osx-arm64": ("Darwin", "darwin", "arm64")}


def _environment(python: str, platform: str) -> dict[str, str]:
    system, sys_platform, machine = _MACHINE[platform]
    return {"implementation_name": "cpython", "implementation_version": f"{python}.0", "os_name": "posix",
            "platform_machine": machine, "platform_release": "", "platform_system": system, "platform_version": "",
            "python_full_version": f"{python}.0", "platform_python_implementation": "CPython",
            "python_version": python, "sys_platform": sys_platform}


@pytest.mark.parametrize("core_set", SETS)
@pytest.mark.parametrize("python", core.PYTHONS)
def test_every_core_set_is_locked_for_every_python_on_linux(core_set, python):
    for platform in ("linux-64", "linux-aarch64"):
        assert (LOCKFILES / core_set / core.file_name(python, platform)).is_file(), (core_set, python, platform)


def test_osx_arm64_locks_are_there_where_macos_11_wheels_exist():
    """osx-arm64 is locked for macOS 11.0 (materialize's default __osx): tensorflow and onnxruntime for
    Python 3.13 publish macOS arm64 wheels only for newer macOS, so those targets have no file (README)."""
    found = {(p.parent.name, p.name) for p in SHIPPED if p.name.endswith("-osx-arm64.toml")}
    expected = {(s, core.file_name(p, "osx-arm64")) for s in SETS for p in core.PYTHONS
                if s == "default" or (s == "onnx" and p != "3.13")}
    assert found == expected


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_shipped_core_lock_is_valid_pep_751_for_exactly_its_target(path):
    data = tomllib.loads(path.read_text())
    lock = Pylock.from_dict(data)
    lock.validate()
    tool = data["tool"]["materialize"]
    python, platform = tool["python"], tool["platform"]
    assert path == LOCKFILES / tool["core-set"] / core.file_name(python, platform)
    assert tool["target"] == core.target_of(platform) and tool["index"] == core_refresh.PUBLIC_INDEX
    assert tuple(tool["requirements"]) == core_refresh.core_set_lines(core_refresh.BUILTIN_SETS, tool["core-set"])
    ranks = wheel_tags.ranked_tags(platform, python)
    tags = sorted(ranks, key=ranks.get)
    selected = {package.name: artifact for package, artifact in lock.select(environment=_environment(python, platform),
                                                                             tags=tags)}
    assert sorted(selected) == sorted(p.name for p in lock.packages)
    for package in data["packages"]:
        for artifact in package["wheels"] + ([package["sdist"]] if "sdist" in package else []):
            assert artifact["url"].startswith("https://files.pythonhosted.org/packages/")
            assert len(artifact["hashes"]["sha256"]) == 64 and int(artifact["hashes"]["sha256"], 16) >= 0
    pins = core.read(path).pins
    for line in tool["requirements"]:
        requirement = Requirement(line)
        assert requirement.specifier.contains(Version(pins[requirement.name].version)), line


def test_the_wheel_carries_the_core_locks_and_an_installed_materialize_finds_them(tmp_path):
    """Build the wheel from a copy of the source (hermetic: setuptools from the local index), then import
    materialize from the unpacked wheel alone."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(REPO / "materialize", source / "materialize", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(LOCKFILES, source / "lockfiles")
    index = tmp_path / "index"
    index.mkdir()
    for wheel in wheels.setuptools_wheels():
        shutil.copy2(wheel, index / wheel.name)
    import uv

    with pypi_server.start_pypi_server(index) as server:
        done = subprocess.run([uv.find_uv_bin(), "build", "--no-config", "--wheel", "--index-url", server.url,
                               "--out-dir", tmp_path / "dist", source], capture_output=True, text=True, timeout=300,
                              env={**os.environ, "UV_CACHE_DIR": str(tmp_path / "uv-cache")})
    assert done.returncode == 0, done.stderr
    (built,) = (tmp_path / "dist").glob("materialize-*.whl")
    with zipfile.ZipFile(built) as archive:
        members = set(archive.namelist())
        archive.extractall(tmp_path / "site")
    expected = {f"materialize/lockfiles/{p.parent.name}/{p.name}" for p in SHIPPED}
    assert expected <= members and len(expected) == len(SHIPPED)
    code = ("from materialize.resolve import core; print(core.BUILTIN); "
            f"print(len(core.read(core.BUILTIN / 'default' / core.file_name('{RUNNING}', 'linux-64')).pins))")
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60,
                           env={**os.environ, "PYTHONPATH": str(tmp_path / "site")})
    assert found.returncode == 0, found.stderr
    where, count = found.stdout.split()
    assert Path(where) == tmp_path / "site" / "materialize" / "lockfiles" and int(count) > 0


@pytest.mark.network
def test_shipped_hashes_match_what_pypi_serves(tmp_path):
    path = LOCKFILES / "default" / core.file_name(RUNNING, "linux-64")
    for package in tomllib.loads(path.read_text())["packages"]:
        wheel = package["wheels"][0]
        with urllib.request.urlopen(wheel["url"], timeout=60) as response:
            assert hashlib.sha256(response.read()).hexdigest() == wheel["hashes"]["sha256"], package["name"]


@pytest.mark.network
def test_builtin_core_set_locks_to_the_shipped_pins_against_pypi(cli, tmp_path, channel_url, other_python):
    """A lock for this Python and then another reports the core versions from the two shipped core locks."""
    project = write_project(tmp_path / "p", requirements="six\n", files={"materialize.toml": 'core = "default"\n'})
    cli.ok("lock", project, "--channel", channel_url)
    first = core.read(LOCKFILES / "default" / core.file_name(RUNNING, "linux-64"))
    pins = lock_packages(project / "materialize-lock.yml", "pip")
    assert {n: pins[n] for n in first.pins} == {n: p.version for n, p in first.pins.items()}
    other = ".".join(other_python.split(".")[:2])
    done = cli.ok("lock", project, "--channel", channel_url, "--python", other)
    second = core.read(LOCKFILES / "default" / core.file_name(other, "linux-64"))
    assert f"core lock default/{first.path.name} -> default/{second.path.name}:" in done.stdout
    lines = done.stdout.splitlines()
    unchanged = next((x for x in lines if x.strip().startswith("unchanged: ")), "").strip()[len("unchanged: "):]
    for name, pin in second.pins.items():
        old = first.pins[name].version if name in first.pins else None
        if old == pin.version:
            assert f"{name} {old}" in unchanged.split(", "), name
        else:
            assert f"    {name} {old} -> {pin.version}" in lines or f"    {name} {pin.version} (added)" in lines

"""The hermetic test world: a local conda channel (file:// and HTTP), a pypiserver, isolated homes.

Channel builds are cached on disk (``.world-cache/`` beside the repo, or
``MATERIALIZE_TEST_WORLD``), keyed by the builder's sources and the interpreters found.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.helpers import Cli
from tests.world import conda_channel, interpreters, pypi_server, wheels

REPO = Path(__file__).resolve().parent.parent
WORLD = Path(os.environ.get("MATERIALIZE_TEST_WORLD", REPO / ".world-cache"))
RUNNING = ".".join(map(str, sys.version_info[:2]))
PRIVATE_AUTH = ("alice", "s3cr3t-Pa55w0rd-x9")
FOREIGN = ("linux-aarch64", "osx-arm64")
_EXIT_STATUS = {"code": 0}


# rattler's async runtime can crash the interpreter at exit (docs/engines.md): end pytest with
# os._exit after everything, keeping pytest's own exit status.
def pytest_sessionfinish(session, exitstatus):
    _EXIT_STATUS["code"] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_EXIT_STATUS["code"])


@pytest.fixture(scope="session")
def found_interpreters() -> list[interpreters.Interpreter]:
    return interpreters.find_interpreters()


@pytest.fixture(scope="session")
def running_python(found_interpreters) -> str:
    return next(i.version for i in found_interpreters if i.minor == RUNNING)


@pytest.fixture(scope="session")
def other_python(found_interpreters) -> str:
    """A second real CPython minor version (skips with a reason when this machine has only one)."""
    others = [i for i in found_interpreters if i.minor != RUNNING]
    if not others:
        pytest.skip("only the running interpreter exists here; a second CPython minor version is needed")
    newer = [i for i in others if i.version_tuple > tuple(sys.version_info[:3])]
    return (newer or others)[0].version


@pytest.fixture(scope="session")
def channel(found_interpreters, running_python) -> Path:
    foreign = [(running_python, subdir) for subdir in FOREIGN]
    return conda_channel.cached_channel(WORLD / "channels", conda_channel.standard_test_packages(),
                                        found_interpreters, foreign)


@pytest.fixture(scope="session")
def channel_url(channel) -> str:
    return channel.as_uri()


@pytest.fixture(scope="session")
def http_channel(channel):
    with conda_channel.ChannelServer(channel) as server:
        yield server.url


@pytest.fixture(scope="session")
def pypi(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pypi-public")
    wheels.build_all(wheels.public_dists(), folder)
    for wheel in wheels.setuptools_wheels():
        shutil.copy2(wheel, folder / wheel.name)
    with pypi_server.start_pypi_server(folder) as server:
        yield server


@pytest.fixture(scope="session")
def private_pypi(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pypi-private")
    wheels.build_all(wheels.private_dists(), folder)
    with pypi_server.start_pypi_server(folder, auth=PRIVATE_AUTH) as server:
        yield server


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("materialize-cache")


@pytest.fixture(scope="session")
def core_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("core") / "core-requirements.txt"
    path.write_text("coreserver\n")
    return path


@pytest.fixture(autouse=True)
def isolated(tmp_path_factory, monkeypatch, shared_cache, core_file):
    """Every test gets its own HOME and config dirs (outside its tmp_path); the package cache is shared
    unless a test says not."""
    home = tmp_path_factory.mktemp("home")
    config = home / ".config"
    (config / "materialize").mkdir(parents=True)
    (config / "materialize" / "config.toml").write_text(
        f'python = "{RUNNING}"\ncore-requirements = "{core_file}"\n')
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("MATERIALIZE_CACHE_DIR", str(shared_cache))
    for name in [k for k in os.environ if k.startswith(("MATERIALIZE_", "UV_", "PIP_")) and k not in (
            "MATERIALIZE_CACHE_DIR", "MATERIALIZE_TEST_WORLD")]:
        monkeypatch.delenv(name, raising=False)
    yield home


@pytest.fixture
def cli() -> Cli:
    return Cli()


REGISTRY_AUTH = ("carol", "r3g-Pa55-word-q7")


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    """A real OCI registry (docker-registry, distribution 2.8) on 127.0.0.1 with htpasswd basic auth."""
    from tests.world import registry as registries

    reason = registries.unavailable()
    if reason:
        pytest.skip(reason)
    with registries.start_registry(tmp_path_factory.mktemp("registry"), basic=REGISTRY_AUTH) as server:
        yield server


@pytest.fixture(scope="session")
def image_projects(tmp_path_factory, channel_url, pypi, core_file, shared_cache):
    """Two locked projects for the image tests: ``base`` and ``next`` (see prefix_checks.base_and_next)."""
    from tests.prefix_checks import base_and_next

    return base_and_next(tmp_path_factory, channel_url, pypi.url, core_file, shared_cache, "image")


@pytest.fixture(scope="session")
def built(tmp_path_factory, image_projects, shared_cache):
    """``base`` installed once and pushed to an OCI layout (tests/image_checks.py)."""
    from tests.image_checks import build_once

    return build_once(tmp_path_factory.mktemp("image-env"), image_projects["base"], shared_cache)


@pytest.fixture
def installed(built):
    """The installed environment at its path, exactly as install left it."""
    return built.put_back()


@pytest.fixture
def vacant(built):
    """Nothing at the environment's path: a host that has never seen it."""
    return built.clear()

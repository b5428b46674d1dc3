"""One lockfile for linux-64, linux-aarch64 and osx-arm64, made on this linux-64 host.

Local world: a small conda channel of per-subdir builds and virtual-package requirements (beside
the standard channel, which brings the pythons), and an index with platform-specific wheels and
platform markers.
"""

from __future__ import annotations

import json

import pytest
import yaml

from tests.conftest import RUNNING
from tests.helpers import lock_packages, pip_conf_for, run_python, write_project
from tests.world import pypi_server, wheels
from tests.world.conda_channel import index_channel
from tests.world.conda_packages import CondaPackage, write_conda
from tests.world.wheels import Dist

THREE = ("linux-64", "linux-aarch64", "osx-arm64")
CP = "cp" + RUNNING.replace(".", "")


def _wheel(version: str, platform_tag: str) -> Dist:
    return Dist("platpkg", version, python_tag=CP, abi_tag=CP, platform_tag=platform_tag)


@pytest.fixture(scope="module")
def plat_index(tmp_path_factory):
    """The public test dists, plus platpkg (1.0: macOS 11 wheel; 2.0: macOS 12) and markerpkg."""
    folder = tmp_path_factory.mktemp("pypi-platforms")
    dists = [_wheel(v, f"manylinux_2_17_{arch}") for v in ("1.0", "2.0") for arch in ("x86_64", "aarch64")]
    dists += [_wheel("1.0", "macosx_11_0_arm64"), _wheel("2.0", "macosx_12_0_arm64"),
              Dist("markerpkg", "1.0", requires=("tinydep; sys_platform == 'darwin'",
                                                 "six; platform_machine == 'aarch64'"))]
    wheels.build_all(dists + wheels.public_dists(), folder)
    with pypi_server.start_pypi_server(folder) as server:
        yield server


@pytest.fixture(scope="module")
def vchannel(tmp_path_factory) -> str:
    """platdep: one build per subdir; needscuda, linuxonly, newglibc: virtual-package requirements."""
    folder = tmp_path_factory.mktemp("vchannel")
    subdir_deps = {"linux-64": "__glibc >=2.17", "linux-aarch64": "__glibc >=2.17", "osx-arm64": "__osx >=11.0"}
    packages = [CondaPackage("platdep", "1.0", build=f"h_{s.replace('-', '_')}", subdir=s, noarch=None,
                             depends=(dep,), files={"share/platdep/SUBDIR": s.encode()})
                for s, dep in subdir_deps.items()]
    packages += [CondaPackage("needscuda", "1.0", depends=("__cuda >=12",)),
                 CondaPackage("linuxonly", "1.0", depends=("__glibc >=2.17",)),
                 CondaPackage("newglibc", "1.0", subdir="linux-64", noarch=None, depends=("__glibc >=2.34",))]
    for package in packages:
        write_conda(package, folder)
    index_channel(folder, {"noarch", *THREE})
    return folder.as_uri()


def _project(tmp_path, index, conda: str, requirements: str = "", toml: str | None = None):
    files = {"materialize.toml": toml} if toml is not None else None
    return write_project(tmp_path / "proj", conda=conda, requirements=requirements,
                         pip_conf=pip_conf_for(index.url), files=files)


def _lock(cli, project, vchannel, channel_url, *platforms, code: int = 0, json_out: bool = False):
    args = ["lock", project, "--channel", vchannel, "--channel", channel_url]
    args += [a for p in platforms for a in ("--platform", p)] + (["--json"] if json_out else [])
    return cli.ok(*args) if code == 0 else cli.fails(code, *args)


def _pip_files(lockfile, platform: str) -> dict[str, str]:
    data = yaml.safe_load(lockfile.read_text())
    return {p["name"]: p["url"].rsplit("/", 1)[-1] for p in data["package"]
            if p["manager"] == "pip" and p["platform"] == platform}


def _conda_urls(lockfile, platform: str) -> dict[str, str]:
    data = yaml.safe_load(lockfile.read_text())
    return {p["name"]: p["url"] for p in data["package"] if p["manager"] == "conda" and p["platform"] == platform}


def test_one_lockfile_for_three_platforms(cli, tmp_path, vchannel, channel_url, plat_index, running_python):
    project = _project(tmp_path, plat_index, "platdep\n", "platpkg\nmarkerpkg\n")
    done = _lock(cli, project, vchannel, channel_url, *THREE, json_out=True)
    data = json.loads(done.stdout)["data"]
    assert data["platforms"] == list(THREE)
    assert data["python"] == {p: running_python for p in THREE}
    lockfile = project / "materialize-lock.yml"
    meta = yaml.safe_load(lockfile.read_text())["metadata"]
    assert meta["platforms"] == list(THREE) and sorted(meta["content_hash"]) == list(THREE)
    for platform in THREE:  # each platform's own builds, found with its own virtual packages
        urls = _conda_urls(lockfile, platform)
        assert urls["platdep"].endswith(f"/{platform}/platdep-1.0-h_{platform.replace('-', '_')}.conda")
        assert f"/{platform}/python-{running_python}-" in urls["python"]
    assert _pip_files(lockfile, "linux-64") == {
        "platpkg": f"platpkg-2.0-{CP}-{CP}-manylinux_2_17_x86_64.whl", "markerpkg": "markerpkg-1.0-py3-none-any.whl",
        "coreserver": "coreserver-1.1-py3-none-any.whl", "coreserial": "coreserial-1.0-py3-none-any.whl"}
    aarch64 = _pip_files(lockfile, "linux-aarch64")
    assert aarch64["platpkg"] == f"platpkg-2.0-{CP}-{CP}-manylinux_2_17_aarch64.whl"
    assert "six" in aarch64 and "tinydep" not in aarch64  # markers evaluated for aarch64
    osx = _pip_files(lockfile, "osx-arm64")
    # __osx defaults to 11.0: the macOS 12 wheel of 2.0 does not fit, so 1.0 is locked
    assert osx["platpkg"] == f"platpkg-1.0-{CP}-{CP}-macosx_11_0_arm64.whl"
    assert "tinydep" in osx and "six" not in osx
    before = lockfile.read_bytes()  # locking again keeps every platform's pins, and says so
    assert json.loads(_lock(cli, project, vchannel, channel_url, *THREE, json_out=True).stdout)["data"]["unchanged"]
    assert lockfile.read_bytes() == before


def test_platforms_setting_and_osx_version_override(cli, tmp_path, vchannel, channel_url, plat_index):
    toml = 'platforms = ["osx-arm64", "linux-64"]\n[virtual-packages]\n__osx = "12.0"\n'
    project = _project(tmp_path, plat_index, "platdep\n", "platpkg\n", toml)
    _lock(cli, project, vchannel, channel_url)
    lockfile = project / "materialize-lock.yml"
    assert yaml.safe_load(lockfile.read_text())["metadata"]["platforms"] == ["linux-64", "osx-arm64"]
    assert _pip_files(lockfile, "osx-arm64")["platpkg"] == f"platpkg-2.0-{CP}-{CP}-macosx_12_0_arm64.whl"


def test_macosx_deployment_target_of_the_caller_does_not_leak(cli, tmp_path, vchannel, channel_url, plat_index):
    project = _project(tmp_path, plat_index, "platdep\n", "platpkg\n")
    cli.ok("lock", project, "--channel", vchannel, "--channel", channel_url, "--platform", "osx-arm64",
           env={"MACOSX_DEPLOYMENT_TARGET": "14.0"})
    assert lock_packages(project / "materialize-lock.yml", "pip", "osx-arm64")["platpkg"] == "1.0"


def test_virtual_package_overrides(cli, tmp_path, vchannel, channel_url, plat_index):
    project = _project(tmp_path, plat_index, "needscuda\n")
    done = _lock(cli, project, vchannel, channel_url, "linux-64", code=4)
    assert "__cuda" in done.stderr and "linux-64" in done.stderr
    (project / "materialize.toml").write_text('[virtual-packages]\n__cuda = "12.4"\n')
    _lock(cli, project, vchannel, channel_url, *THREE)
    assert all("needscuda" in lock_packages(project / "materialize-lock.yml", "conda", p) for p in THREE)


def test_glibc_override_applies_to_linux_only(cli, tmp_path, vchannel, channel_url, plat_index):
    project = _project(tmp_path, plat_index, "newglibc\n")
    _lock(cli, project, vchannel, channel_url, "linux-64", code=4)
    (project / "materialize.toml").write_text('[virtual-packages]\n__glibc = "2.35"\n')
    _lock(cli, project, vchannel, channel_url, "linux-64")  # uv is asked for x86_64-manylinux_2_35 too
    (project / "conda-packages.txt").write_text("linuxonly\n")
    _lock(cli, project, vchannel, channel_url, "linux-aarch64")
    done = _lock(cli, project, vchannel, channel_url, "linux-64", "osx-arm64", code=4)
    assert "osx-arm64" in done.stderr and "__glibc" in done.stderr


def test_glibc_without_a_uv_target_is_rounded_down(cli, tmp_path, vchannel, channel_url, plat_index):
    toml = '[virtual-packages]\n__glibc = "2.30"\n'  # uv knows 2_28 and 2_31, not 2_30
    project = _project(tmp_path, plat_index, "tinyleaf\n", "platpkg\n", toml)
    _lock(cli, project, vchannel, channel_url, "linux-64", "linux-aarch64")
    (project / "materialize.toml").write_text('[virtual-packages]\n__glibc = "2.12"\n')
    done = _lock(cli, project, vchannel, channel_url, "linux-64", code=3)
    assert done.stderr.startswith("error: __glibc '2.12': uv can lock PyPI packages only for glibc >= 2.17")


def test_unknown_platform_is_an_input_error(cli, tmp_path, vchannel, channel_url, plat_index):
    project = _project(tmp_path, plat_index, "platdep\n")
    done = _lock(cli, project, vchannel, channel_url, "linux-128", code=3)
    assert "unknown platform 'linux-128'" in done.stderr


def test_install_takes_the_host_platform(cli, tmp_path, vchannel, channel_url, plat_index):
    project = _project(tmp_path, plat_index, "platdep\n", "platpkg\nmarkerpkg\n")
    _lock(cli, project, vchannel, channel_url, *THREE)
    done = cli.ok("install", project, "--prefix", tmp_path / "env", "--json")
    assert json.loads(done.stdout)["data"]["platform"] == "linux-64"
    assert (tmp_path / "env" / "share" / "platdep" / "SUBDIR").read_text() == "linux-64"
    ran = run_python(tmp_path / "env", "import platpkg, markerpkg, sys; print(platpkg.__version__); "
                                       "print('tinydep' in sys.modules or __import__('importlib.util').util"
                                       ".find_spec('tinydep') is not None)")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == ["2.0", "False"]  # the linux-64 pins, not the osx-arm64 ones


def test_install_without_the_host_platform_is_exit_3(cli, tmp_path, vchannel, channel_url, plat_index):
    project = _project(tmp_path, plat_index, "platdep\n", "platpkg\n")
    _lock(cli, project, vchannel, channel_url, "osx-arm64", "linux-aarch64")
    done = cli.fails(3, "install", project, "--prefix", tmp_path / "env")
    assert done.stderr.splitlines()[0] == ("error: materialize-lock.yml: has no packages for this machine's "
                                           "platform linux-64 (it has: linux-aarch64, osx-arm64)")
    assert not (tmp_path / "env" / "conda-meta").exists()
    envelope = json.loads(cli.fails(3, "install", project, "--prefix", tmp_path / "env", "--json").stdout)
    assert envelope["status"] == "error" and envelope["errors"][0]["kind"] == "invalid-input"

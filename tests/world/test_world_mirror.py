"""wheel_mirror: wheels repackaged as conda packages (the bench's workload and the demo's mirror use it)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import RUNNING, WORLD
from tests.helpers import lock_packages, run_python, write_project
from tests.world import conda_channel, conda_packages, interpreters, wheel_mirror, wheels

TAG = "cp%d%d" % sys.version_info[:2]
MAIN = "def main():\n    print('{name} runs')\n"


def _binary(tmp_path):
    dist = wheels.Dist("fastbin", "1.0", python_tag=TAG, abi_tag=TAG, platform_tag="manylinux_2_17_x86_64",
                       console_scripts={"fastbin": "fastbin:main"}, module_source=MAIN.format(name="fastbin"))
    return wheels.build_wheel(dist, tmp_path)


def _pure(tmp_path):
    dist = wheels.Dist("pure-thing", "2.0", requires=("fastbin>=1", "absent>=1", "fastbin; python_version<'3'"),
                       console_scripts={"purething": "pure_thing:main"}, module_source=MAIN.format(name="pure-thing"))
    return wheels.build_wheel(dist, tmp_path)


def test_a_binary_wheel_becomes_a_package_of_the_host_subdir_for_its_python(tmp_path):
    package = wheel_mirror.conda_package_from_wheel(_binary(tmp_path), {"fastbin"}, RUNNING)
    site = f"lib/python{RUNNING}/site-packages"
    assert (package.subdir, package.noarch) == (conda_channel.host_subdir(), None)
    assert package.depends == (f"python {RUNNING}.*",)
    assert package.build == f"py{RUNNING.replace('.', '')}h_mirror_0"
    info = f"{site}/fastbin-1.0.dist-info"
    assert sorted(package.files) == ["bin/fastbin", *(f"{info}/{name}" for name in (
        "INSTALLER", "METADATA", "RECORD", "WHEEL", "entry_points.txt", "top_level.txt")), f"{site}/fastbin/__init__.py"]
    assert package.text_prefix_files == ("bin/fastbin",) and package.entry_points == ()
    assert package.files["bin/fastbin"].startswith(f"#!{conda_packages.PREFIX_PLACEHOLDER}/bin/python\n".encode())
    assert package.files[f"{site}/fastbin-1.0.dist-info/INSTALLER"] == b"conda\n"


def test_a_pure_wheel_becomes_noarch_python_depending_on_what_the_set_holds(tmp_path):
    package = wheel_mirror.conda_package_from_wheel(_pure(tmp_path), {"fastbin", "pure-thing"}, RUNNING)
    assert (package.subdir, package.noarch, package.depends) == ("noarch", "python", ("python >=3.8", "fastbin"))
    assert package.entry_points == ("purething = pure_thing:main",)
    assert all(path.startswith("site-packages/pure_thing") for path in package.files)


def test_binary_tags_name_the_cpython_abi_and_manylinux():
    tags = wheel_mirror.binary_tags("3.12", "aarch64")
    assert tags[:8] == ["--implementation", "cp", "--abi", "cp312", "--abi", "abi3", "--abi", "none"]
    assert "manylinux_2_28_aarch64" in tags and tags[-2:] == ["--platform", "any"]


@pytest.fixture(scope="module")
def mirror_channel(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mirror-wheels")
    found = [_binary(folder), _pure(folder)]
    inside = {wheel_mirror.wheel_key(w)[0] for w in found}
    packages = [wheel_mirror.conda_package_from_wheel(w, inside, RUNNING) for w in found]
    running = [i for i in interpreters.find_interpreters() if i.minor == RUNNING]
    return conda_channel.cached_channel(WORLD / "mirror-channels", packages, running)


def test_repackaged_wheels_install_and_run_in_the_environment(cli, tmp_path, mirror_channel):
    no_core = {"materialize.toml": "core-requirements = []\n"}  # no PyPI part: the channel needs no pip
    project = write_project(tmp_path / "p", conda="pure-thing\n", files=no_core)
    cli.ok("lock", project, "--channel", mirror_channel.as_uri())
    assert lock_packages(project / "materialize-lock.yml", "conda").keys() == {"python", "pure-thing", "fastbin"}
    env = tmp_path / "env"
    cli.ok("install", project, "--prefix", env)
    done = run_python(env, "import fastbin, pure_thing; print(fastbin.__file__)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(env / "lib" / f"python{RUNNING}" / "site-packages" / "fastbin" / "__init__.py")
    for script, says in (("fastbin", "fastbin runs"), ("purething", "pure-thing runs")):
        ran = subprocess.run([str(env / "bin" / script)], capture_output=True, text=True, timeout=60)
        assert (ran.returncode, ran.stdout.strip()) == (0, says), ran.stderr
    cli.ok("verify", project, "--prefix", env)

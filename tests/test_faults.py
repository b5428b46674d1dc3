"""Faults of the machine, not of materialize: a full disk is exit 5, a read-only or impossible
prefix exit 3, both naming the path; the previous environment stays intact or marked incomplete,
and the re-run after space is freed converges on a clean install's tree.

The small and read-only filesystems are real tmpfs mounts (root here and in CI); elsewhere these
tests skip with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.prefix_checks import base_and_next, snapshot, tree_diff


@pytest.fixture(scope="module")
def projects(tmp_path_factory, channel_url, pypi, core_file, shared_cache):
    return base_and_next(tmp_path_factory, channel_url, pypi.url, core_file, shared_cache, "faults")


class Tmpfs:
    def __init__(self, path):
        self.path = path

    def mount(self, *options: str) -> None:
        subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(self.path)], check=True)

    def remount(self, *options: str) -> None:
        subprocess.run(["mount", "-o", ",".join(["remount", *options]), str(self.path)], check=True)

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], check=False)


@pytest.fixture
def tmpfs(tmp_path):
    mount_point = tmp_path / "mnt"
    mount_point.mkdir()
    fs = Tmpfs(mount_point)
    try:
        fs.mount("size=4m")
    except (subprocess.CalledProcessError, FileNotFoundError, PermissionError):
        pytest.skip("mounting a tmpfs needs root (and a mount namespace that allows it)")
    fs.unmount()
    yield fs
    fs.unmount()


def test_a_fresh_install_onto_a_full_disk_is_exit_5_then_converges(cli, projects, tmpfs):
    prefix = tmpfs.path / "env"
    tmpfs.mount("size=200m")
    cli.ok("install", projects["base"], "--prefix", prefix)
    reference = snapshot(prefix)
    shutil.rmtree(prefix)
    tmpfs.remount("size=30m")  # less than the 65 MB the environment needs
    done = cli.fails(5, "install", projects["base"], "--prefix", prefix)
    assert "No space left on device" in done.stderr or "no space left" in done.stderr.lower(), done.stderr
    assert str(prefix) in done.stderr
    done = cli.fails(6, "verify", projects["base"], "--prefix", prefix)
    assert "the last install did not finish" in done.stdout
    tmpfs.remount("size=200m")
    cli.ok("install", projects["base"], "--prefix", prefix)
    assert tree_diff(reference, snapshot(prefix)) == []


def test_an_update_on_a_full_disk_is_exit_5_then_converges(cli, projects, tmpfs):
    prefix = tmpfs.path / "env"
    tmpfs.mount("size=200m")
    cli.ok("install", projects["next"], "--prefix", prefix)
    reference = snapshot(prefix)
    shutil.rmtree(prefix)
    cli.ok("install", projects["base"], "--prefix", prefix)
    filler = tmpfs.path / "filler"
    free = os.statvfs(tmpfs.path)
    with open(filler, "wb") as handle:  # leave a few kilobytes: the update's first writes fail
        handle.truncate(0)
        os.posix_fallocate(handle.fileno(), 0, free.f_bavail * free.f_frsize - 16 * 1024)
    done = cli.fails(5, "install", projects["next"], "--prefix", prefix)
    assert "space" in done.stderr.lower() and str(prefix) in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    verified = cli("verify", projects["base"], "--prefix", prefix)
    assert verified.returncode == 0 or "the last install did not finish" in verified.stdout, verified.stdout
    filler.unlink()
    cli.ok("install", projects["next"], "--prefix", prefix)
    assert tree_diff(reference, snapshot(prefix)) == []


def test_a_read_only_prefix_is_exit_3_and_stays_as_it_was(cli, projects, tmpfs):
    prefix = tmpfs.path / "env"
    tmpfs.mount("size=200m")
    cli.ok("install", projects["base"], "--prefix", prefix)
    before = snapshot(prefix)
    tmpfs.remount("ro")
    done = cli.fails(3, "install", projects["next"], "--prefix", prefix)
    assert "read-only file system" in done.stderr and str(prefix) in done.stderr, done.stderr
    assert tree_diff(before, snapshot(prefix)) == []
    cli.ok("verify", projects["base"], "--prefix", prefix)  # verify only reads: it works on a read-only mount
    empty = tmpfs.path / "new-env"
    done = cli.fails(3, "install", projects["base"], "--prefix", empty)
    assert str(empty) in done.stderr


@pytest.mark.parametrize("where", ["file", "proc", "below-a-file"])
def test_impossible_prefixes_are_exit_3_naming_the_path(cli, projects, tmp_path, where):
    target = {"file": tmp_path / "a-file", "proc": "/proc/materialize-env",
              "below-a-file": tmp_path / "a-file" / "env"}[where]
    (tmp_path / "a-file").write_text("not a folder\n")
    done = cli.fails(3, "install", projects["base"], "--prefix", target)
    assert done.stderr.startswith(f"error: {target}") and "internal error" not in done.stderr, done.stderr


def test_a_folder_that_is_not_an_environment_is_never_cleared(cli, projects, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.tex").write_text("years of work\n")
    done = cli.fails(3, "install", projects["base"], "--prefix", home)
    assert "is not empty and is not an environment materialize made" in done.stderr
    assert (home / "thesis.tex").read_text() == "years of work\n"

"""Helpers for the prefix tests (reproducibility, verify, crash safety, offline): lockfiles made once
per module, tree snapshots, running the CLI in the background and killing it at a milestone."""

from __future__ import annotations

import hashlib
import os
import signal
import stat
import subprocess
import time
from pathlib import Path

import yaml

from tests.helpers import CLI_PATH, pip_conf_for, write_project

BASE_CONDA = "tinyapp\ncondapy=1.0\n"
BASE_PIP = "tinyweb\nsix==1.17.0\n"
# The update, on both sides: conda condapy removed, six added (so the distribution six moves from
# PyPI to conda); PyPI tinyweb removed, tinydep 2.0 -> 1.0. Unchanged: python, pip, tinyapp,
# tinyleaf (conda), coreserver, coreserial (PyPI, the core set). Going back adds them again.
NEXT_CONDA = "tinyapp\nsix\n"
NEXT_PIP = "tinydep==1.0\n"


def lock_env(tmp_path_factory, core_file: Path, cache: Path) -> dict[str, str]:
    """What the autouse ``isolated`` fixture sets, for module-scoped fixtures (which cannot use it)."""
    from tests.conftest import RUNNING

    home = tmp_path_factory.mktemp("lock-home")
    config = home / ".config"
    (config / "materialize").mkdir(parents=True)
    (config / "materialize" / "config.toml").write_text(f'python = "{RUNNING}"\ncore-requirements = "{core_file}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MATERIALIZE_", "UV_", "PIP_"))}
    return {**env, "HOME": str(home), "XDG_CONFIG_HOME": str(config), "XDG_CACHE_HOME": str(home / ".cache"),
            "MATERIALIZE_CACHE_DIR": str(cache)}


def make_project(folder: Path, channel: str, pypi_url: str, env: dict[str, str], conda: str = BASE_CONDA,
                 pip: str = BASE_PIP) -> Path:
    """A locked project folder (it stays: install reads pip.conf from it for credentials)."""
    project = write_project(folder, conda=conda, requirements=pip, pip_conf=pip_conf_for(pypi_url))
    done = subprocess.run([str(CLI_PATH), "lock", str(project), "--channel", channel], env=env,
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    return project


def snapshot(root: Path) -> dict[str, tuple]:
    """Every file, link and folder below ``root``: bytes (sha256), link target, mode."""
    tree: dict[str, tuple] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            info = path.lstat()
            rel = path.relative_to(root).as_posix()
            if stat.S_ISLNK(info.st_mode):
                tree[rel] = ("link", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                tree[rel] = ("dir", stat.S_IMODE(info.st_mode))
            else:
                tree[rel] = ("file", stat.S_IMODE(info.st_mode), hashlib.sha256(path.read_bytes()).hexdigest())
    return tree


def tree_diff(old: dict[str, tuple], new: dict[str, tuple]) -> list[str]:
    return [f"{path}: {old.get(path)} != {new.get(path)}" for path in sorted(set(old) | set(new))
            if old.get(path) != new.get(path)]


def identities(prefix: Path, paths: list[str]) -> dict[str, tuple[int, int]]:
    """(inode, mtime_ns) of files: unchanged packages must keep both across an update."""
    return {p: ((prefix / p).lstat().st_ino, (prefix / p).lstat().st_mtime_ns) for p in paths}


def site_packages(prefix: Path) -> Path:
    return next(prefix.glob("lib/python3*/site-packages"))


def start_cli(*args: object, env: dict[str, str] | None = None) -> subprocess.Popen:
    """The CLI in the background, in its own process group (so that a kill takes uv with it)."""
    return subprocess.Popen([str(CLI_PATH), *map(str, args)], env={**os.environ, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            stdin=subprocess.DEVNULL)


def children_of(pid: int) -> list[tuple[int, str]]:
    """(pid, command name) of the direct children of ``pid`` (Linux /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = open(f"/proc/{entry}/stat").read()
        except OSError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        if int(text.rsplit(")", 1)[1].split()[1]) == pid:
            found.append((int(entry), name))
    return found


def kill_at(process: subprocess.Popen, milestone, deadline: float = 60.0) -> bool:
    """Poll until ``milestone()`` is true, then SIGKILL the whole process group; False if it ended first."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if process.poll() is not None:
            process.communicate()
            return False
        if milestone():
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            return True
        time.sleep(0.001)
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate()
    raise AssertionError("the install neither reached the milestone nor ended")


def edit_lock(source: Path, target: Path, edit) -> Path:
    """Copy a lockfile with ``edit(package_dict)`` applied to each package entry."""
    data = yaml.safe_load(source.read_text())
    for package in data["package"]:
        edit(package)
    target.write_text(yaml.safe_dump(data, sort_keys=False))
    return target


def run_env_python(prefix: Path, code: str) -> subprocess.CompletedProcess:
    """The environment's Python without writing bytecode (a tree about to be compared stays as installed)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    return subprocess.run([str(prefix / "bin" / "python"), "-B", "-c", code], capture_output=True, text=True,
                          env=env, timeout=120)


def installed_once(tmp_path_factory, project: Path, cache: Path, label: str) -> Path:
    """A prefix installed from ``project`` for a whole test module (tests that change it copy it)."""
    from tests.helpers import Cli

    prefix = tmp_path_factory.mktemp(f"{label}-env") / "env"
    Cli().ok("install", project, "--prefix", prefix, env={"MATERIALIZE_CACHE_DIR": str(cache)})
    return prefix


def base_and_next(tmp_path_factory, channel_url: str, pypi_url: str, core_file, shared_cache, label: str) -> dict:
    """Two locked projects: ``base``, and ``next``, which adds, removes and replaces on both sides."""
    env = lock_env(tmp_path_factory, core_file, shared_cache)
    root = tmp_path_factory.mktemp(f"{label}-projects")
    return {"base": make_project(root / "base", channel_url, pypi_url, env),
            "next": make_project(root / "next", channel_url, pypi_url, env, conda=NEXT_CONDA, pip=NEXT_PIP)}

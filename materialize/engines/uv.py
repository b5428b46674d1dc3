"""The only module that runs uv: locate it, probe its version, shape its environment, build argv.

Credentials never travel in uv's argv, environment or any file: ``child_auth`` serves them, per
origin, to uv's keyring provider and to git's credential helper for the length of one call.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from .. import cache
from . import proc
from ..errors import MaterializeError, UsageError

UV_ENV = "MATERIALIZE_UV"
MIN_VERSION = (0, 13, 0)
# Always: no stray uv.toml, never download a Python (docs/engines.md).
COMMON = ("--no-config", "--no-python-downloads")


@functools.lru_cache(maxsize=1)
def binary() -> str:
    """MATERIALIZE_UV > the uv wheel's bundled binary > PATH; the version is checked once per binary."""
    found = os.environ.get(UV_ENV)
    if found and not (os.path.isfile(found) and os.access(found, os.X_OK)):
        raise UsageError(f"{UV_ENV}={found}: not an executable file", hint=f"unset {UV_ENV} to use the bundled uv")
    if not found:
        try:
            import uv

            found = uv.find_uv_bin()
        except (ImportError, FileNotFoundError):
            found = shutil.which("uv")
    if not found:
        raise UsageError("uv was not found", hint=f"pip install uv, or set {UV_ENV} to its path")
    version = _version(found)
    if version < MIN_VERSION:
        raise UsageError(f"uv {'.'.join(map(str, version))} is too old; materialize needs >= "
                         f"{'.'.join(map(str, MIN_VERSION))}", hint=f"upgrade uv or set {UV_ENV}")
    return found


def _version(found: str) -> tuple[int, ...]:
    """``uv --version``, remembered in the cache under the binary's path and stat (a rebuilt or
    replaced binary has another size, mtime or inode): the probe costs 10-20 ms of every lock."""
    import json

    try:
        info = os.stat(found)
        key = [os.path.abspath(found), info.st_size, info.st_mtime_ns, info.st_ino]
    except OSError:
        key = None
    memo = cache.root() / cache.PROBES / "uv-version.json"
    try:
        known = json.loads(memo.read_text())
        if key is not None and known["binary"] == key:
            return tuple(int(p) for p in known["version"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    done = proc.run([found, "--version"], timeout=30)
    match = re.search(r"(\d+)\.(\d+)\.(\d+)", done.stdout)
    if done.returncode or not match:
        raise UsageError(f"{found} --version failed: {done.tail(2)}")
    version = tuple(int(p) for p in match.groups())
    if key is not None:
        try:
            cache.remember(memo, json.dumps({"binary": key, "version": list(version)}))
        except OSError:  # a read-only cache: probe every time
            pass
    return version


def environment(extra: Mapping[str, str] = {}) -> dict[str, str]:
    """The caller's environment without anything that would steer uv behind our back."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("UV_", "PIP_", "VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONPATH"))}
    env["UV_CACHE_DIR"] = str(cache.bucket(cache.UV))
    env["UV_PYTHON_DOWNLOADS"] = "never"
    env["UV_NO_PROGRESS"] = "1"
    env["GIT_TERMINAL_PROMPT"] = "0"
    env.update(extra)
    return env


def resolve_cache(python_minor: str) -> Path:
    """uv's cache for a resolve whose sdist metadata an interpreter of ``python_minor`` builds.

    uv keeps the metadata it built from an sdist and reuses it whatever interpreter asks next (a
    setup.py run by 3.11 answered a later lock for 3.12): one cache per minor version keeps them apart."""
    return cache.bucket(cache.UV_RESOLVE.format(minor=python_minor))


def run(args: Sequence[str | os.PathLike[str]], *, env: Mapping[str, str] = {}, cwd: Path | None = None,
        timeout: float = 1800, meanwhile: Callable[[], object] | None = None) -> proc.Completed:
    """uv with ``args``; ``meanwhile()`` runs while it does (``proc.run``)."""
    return proc.run([binary(), *args], env=environment(env), cwd=cwd, timeout=timeout, meanwhile=meanwhile)


class UvFailed(MaterializeError):
    """uv failed; callers translate this into the right user-facing error."""

    def __init__(self, done: proc.Completed, what: str) -> None:
        super().__init__(f"{what} failed (uv exit {done.returncode}):\n{done.tail()}")
        self.done = done


@functools.lru_cache(maxsize=8)
def find_python(minor: str) -> str | None:
    """An interpreter of Python ``minor`` ("3.12") that ``uv python find`` finds here, else None.

    ``--no-project``: a ``.venv`` in the working directory is not a candidate of its own."""
    done = run(["python", "find", *COMMON, "--no-project", minor], timeout=60)
    found = done.stdout.strip().splitlines()
    return found[-1] if done.returncode == 0 and found else None

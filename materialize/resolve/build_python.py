"""The interpreter uv builds sdist metadata with, and a record of which one it was.

uv runs the build backends of sdists, git checkouts and local projects (their ``setup.py`` may
compute dependencies from ``sys.version_info``) with the interpreter passed as ``--python``, whatever
``--python-version`` says. A lock for Python X.Y therefore needs an X.Y interpreter. Chosen, in order:

1. the running interpreter, when it is X.Y (no subprocess);
2. an X.Y interpreter that ``uv python find`` finds on this machine;
3. for this host's platform, the locked conda ``python`` itself: its archive and those of its conda
   dependencies, from the verified package cache, linked into a private prefix
   ``<cache>/build-pythons-v1/<key>/`` (the key digests those archives), made once and reused;
4. else the running interpreter, and the lock says that metadata was built by another Python.

A foreign platform's metadata is always built on this host (by an X.Y interpreter from 1-3 when
there is one): the lock says that too.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from .. import cache, platforms
from ..engines import conda as conda_engine, proc, uv as uv_tool
from ..errors import MaterializeError

log = logging.getLogger(__name__)
COMPLETE = ".complete"  # written last into a build prefix: its Python's version


@dataclass(frozen=True)
class BuildPython:
    path: str
    version: str  # the interpreter's own version
    source: str  # "running" | "found" | "locked" | "fallback"
    target: str  # the locked Python version
    platform: str  # the platform being locked
    host: str  # where the interpreter runs

    @property
    def fits(self) -> bool:
        return minor(self.version) == minor(self.target)

    @property
    def on_host(self) -> bool:
        """True when the platform being locked is not the one the interpreter runs on."""
        return self.platform != self.host

    def describe(self) -> str:
        how = {"running": "materialize's own interpreter", "found": "found by `uv python find`",
               "locked": "the locked conda python, linked into the cache",
               "fallback": "materialize's own interpreter"}[self.source]
        return f"Python {self.version} at {self.path} ({how})"

    def notes(self, built: Sequence[str]) -> list[str]:
        """What the lock output says about it: nothing unless uv built some metadata from source."""
        if not built:
            return []
        lines = [f"metadata of {', '.join(built)} built from source with {self.describe()}"]
        if self.on_host:
            lines.append(f"note: built on this host ({self.host}), not on {self.platform}: a build backend "
                         "that looks at the platform may give other requirements there")
        if not self.fits:
            wanted, why = minor(self.target), "" if self.on_host else " and the locked python could not be linked"
            lines.append(f"warning: no Python {wanted} was found here (`uv python find {wanted}` failed{why}): a "
                         f"setup.py that depends on the Python version may need other packages on Python {self.target}")
        return lines

    def as_data(self, built: Sequence[str]) -> dict:
        return {"path": self.path, "version": self.version, "source": self.source, "host": self.host,
                "on_host": self.on_host, "fits": self.fits, "built": list(built)}


def minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def choose(target: str, platform: str, solved: Sequence[conda_engine.SolvedPackage],
           known: Mapping[str, BuildPython] = {}) -> BuildPython:
    """The interpreter for locking ``platform`` with Python ``target`` (``known``: chosen earlier
    in this run, by minor version)."""
    host, wanted = platforms.host(), minor(target)
    running = sys.version.split()[0]  # platform.python_version(), without importing platform (lock start-up)

    def made(path: str, version: str, source: str) -> BuildPython:
        return BuildPython(path, version, source, target, platform, host)

    if minor(running) == wanted:
        return made(sys.executable, running, "running")
    if wanted in known:
        return made(known[wanted].path, known[wanted].version, known[wanted].source)
    found = uv_tool.find_python(wanted)
    if found is not None:
        version = _version_of(found)
        if version is not None and minor(version) == wanted:
            return made(found, version, "found")
    if platform == host:
        linked = _locked_python(solved, wanted)
        if linked is not None:
            return made(str(linked[0]), linked[1], "locked")
    return made(sys.executable, running, "fallback")


def _version_of(interpreter: str) -> str | None:
    done = proc.run([interpreter, "-c", "import platform; print(platform.python_version())"], timeout=60)
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def closure(solved: Sequence[conda_engine.SolvedPackage], root: str = "python") -> list[conda_engine.SolvedPackage]:
    """``root`` and every solved package it depends on, directly or not."""
    by_name = {p.name: p for p in solved}
    wanted, todo = {}, [root]
    while todo:
        package = by_name.get(todo.pop())
        if package is None or package.name in wanted:
            continue
        wanted[package.name] = package
        todo += [dep.split()[0] for dep in package.depends if dep.split()]
    return sorted(wanted.values(), key=lambda p: p.name)


def _locked_python(solved: Sequence[conda_engine.SolvedPackage], wanted: str) -> tuple[Path, str] | None:
    """(interpreter, version) of the locked python linked into its build prefix, made if missing."""
    packages = closure(solved)
    python = next((p for p in packages if p.name == "python"), None)
    if python is None or minor(python.version) != wanted:
        return None
    key = hashlib.sha256("\n".join(sorted(p.sha256 for p in packages)).encode()).hexdigest()[:24]
    prefix = cache.bucket(cache.BUILD_PYTHONS) / key
    interpreter = prefix / "bin" / f"python{wanted}"
    with cache.file_lock(cache.bucket(cache.BUILD_PYTHONS) / f"{key}.lock", f"the build Python {prefix}"):
        if (prefix / COMPLETE).is_file() and interpreter.is_file():
            return interpreter, python.version
        shutil.rmtree(prefix, ignore_errors=True)
        log.info("linking the locked python %s into %s (once) to build sdist metadata", python.version, prefix)
        try:
            from ..engines import fetch  # urllib.request: only when the locked python must be linked

            archives = fetch.verified_all([fetch.Artifact(p.url, p.sha256, cache.CONDA_ARCHIVES) for p in packages])
            conda_engine.link(archives, prefix, cache.bucket(cache.RATTLER), platforms.host(),
                              [p.sha256 for p in packages])
        except MaterializeError as err:  # the lock goes on with the fallback, and says so
            log.warning("cannot link the locked python into %s: %s", prefix, err)
            shutil.rmtree(prefix, ignore_errors=True)
            return None
        if _version_of(str(interpreter)) != python.version:
            log.warning("the locked python linked into %s does not run; not using it", prefix)
            shutil.rmtree(prefix, ignore_errors=True)
            return None
        (prefix / COMPLETE).write_text(python.version + "\n")
    return interpreter, python.version

"""The cache root (platformdirs; ``MATERIALIZE_CACHE_DIR`` overrides), versioned buckets, file locks.

A change of a bucket's format is a new bucket name, never a migration (as uv's cache does).
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import FetchError, InputError, MaterializeError

CACHE_ENV = "MATERIALIZE_CACHE_DIR"
LOCK_TIMEOUT_ENV = "MATERIALIZE_LOCK_TIMEOUT"
CONDA_ARCHIVES = "conda-archives-v1"  # <sha256>/<file name>: verified conda package archives
RATTLER = "rattler-v1"  # rattler's own package cache (extracted packages)
WHEELS = "wheels-v1"  # <sha256>/<file name>: verified PyPI artifacts of lockfiles (what `fetch` warms)
UV = "uv-v1"  # UV_CACHE_DIR
UV_RESOLVE = "uv-resolve-py{minor}-v1"  # UV_CACHE_DIR of a resolve whose sdist metadata Python {minor} builds
CONDA_DISTS = "conda-dists-v1"  # <sha256>.json: the Python distributions a conda archive ships
CONDA_RECORDS = "conda-records-v1"  # <sha256>.json: a conda archive's index.json, as rattler read it
BUILD_PYTHONS = "build-pythons-v1"  # <key>/: a locked conda python linked to build sdist metadata (resolve/)
VERIFIED = "verified-v1"  # <bucket>/<sha256>.json: the stat of a cache entry when it was last hashed (fetch.py)
CONDA_CONTENTS = "conda-info-v1"  # <sha256>.json: a conda archive's info/ (index.json, paths.json, link.json)
WHEEL_CONTENTS = "wheel-contents-v1"  # <sha256>.json: a wheel's members and their digests
WHEEL_LAYOUTS = "wheel-layouts-v1"  # <sha256>-py<X.Y>.json: its members at their install paths (prefix/desired.py)
LOCKFILES = "lockfiles-v1"  # <sha256>.json: a lockfile's YAML as JSON (lockfile/model.py), read 5x faster
CONDA_LINKED = "conda-linked-v1"  # <sha256>-py<X.Y>.json: a package's files as linking gives them (prefix/conda_link.py)
PROBES = "probes-v1"  # <tool>-version.json: an engine's version, under its binary's path and stat (engines/uv.py)
OCI_BLOBS = "oci-blobs-v1"  # sha256/<hex>: verified image blobs (layers, configs, manifests) pushed or pulled
OCI_LAYERS = "oci-layers-v1"  # <layer key>.json: the blob a planned layer was written to (image/build.py)
NO_OVERLAP = "no-overlap-v1"  # <lockfile sha256>-<platform>: its PyPI part replaces no conda distribution (install.py)
BUCKETS = (CONDA_ARCHIVES, RATTLER, WHEELS, UV, CONDA_DISTS, CONDA_RECORDS, BUILD_PYTHONS, VERIFIED, CONDA_CONTENTS,
           WHEEL_CONTENTS, WHEEL_LAYOUTS, PROBES, CONDA_LINKED, OCI_BLOBS, OCI_LAYERS, LOCKFILES, NO_OVERLAP)


class LockTimeoutError(MaterializeError):
    exit_code = 5
    kind = "lock-timeout"


def root() -> Path:
    """The cache folder (``$MATERIALIZE_CACHE_DIR``, else the user cache dir); resolved once per value."""
    configured = os.environ.get(CACHE_ENV)
    key = (configured, os.environ.get("XDG_CACHE_HOME"), os.environ.get("HOME"))  # what platformdirs reads
    found = _roots.get(key)
    if found is None:
        found = _roots[key] = _root(configured)
    return found


_roots: dict[tuple[str | None, ...], Path] = {}


def _root(configured: str | None) -> Path:
    if configured:
        if len(configured) > 4096:
            raise InputError(f"{CACHE_ENV}: a path of {len(configured)} characters is longer than any filesystem allows")
        try:
            return Path(configured).expanduser().resolve()
        except (OSError, RuntimeError) as err:
            raise InputError(f"{CACHE_ENV}={configured}: not a usable path ({err})") from err
    import platformdirs

    return Path(platformdirs.user_cache_dir("materialize"))


def bucket(name: str) -> Path:
    path = root() / name
    _make(path)
    return path


def remember(memo: Path, text: str) -> None:
    """Write a memo whole or not at all: a temp file of this process and thread, then a rename
    (processes and threads may remember the same answer at once; readers never see half of one)."""
    import threading

    memo.parent.mkdir(parents=True, exist_ok=True)
    temp = memo.with_name(f".{memo.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        temp.write_text(text)
        os.replace(temp, memo)
    finally:
        temp.unlink(missing_ok=True)


def ready() -> Path:
    """The cache root, made if needed, and the cache variables checked: before a command uses the cache."""
    lock_timeout()
    path = root()
    _make(path)
    return path


def _make(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        configured = os.environ.get(CACHE_ENV)
        if configured:
            raise InputError(f"{CACHE_ENV}={configured}: cannot make the cache folder {path} "
                             f"({err.strerror or err})", hint=f"point {CACHE_ENV} at a writable directory") from err
        raise FetchError(f"cannot make the cache folder {path} ({err.strerror or err})",
                         hint=f"free some space or fix its permissions, or set {CACHE_ENV}") from err


def lock_timeout() -> float:
    value = os.environ.get(LOCK_TIMEOUT_ENV, "600")
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise InputError(f"{LOCK_TIMEOUT_ENV}={value[:40]}: expected a number of seconds (default 600)")
    return seconds


class file_lock:
    """``filelock.FileLock`` with a timeout whose error names the variable that changes it."""

    def __init__(self, path: Path, what: str) -> None:
        from filelock import FileLock

        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(str(path))
        self._what = what

    def __enter__(self) -> "file_lock":
        from filelock import Timeout

        timeout = lock_timeout()
        try:
            self._lock.acquire(timeout=timeout)
        except Timeout as err:
            raise LockTimeoutError(
                f"waited {timeout:.0f}s for another materialize process holding {self._what}",
                hint=f"set {LOCK_TIMEOUT_ENV} to wait longer",
            ) from err
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()

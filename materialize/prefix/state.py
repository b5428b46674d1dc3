"""A prefix's stamp: which lockfile it holds, written last after a complete install, with a
fingerprint of its package records so that a change made behind its back is noticed cheaply.

All of materialize's state lives in ``<prefix>/.materialize/`` (the stamp, the expected state,
the prefix lock), which the tree comparisons leave out. Reading the stamp and taking the
fingerprint import nothing heavy and stat a few hundred files: that is the whole of a no-op install.
Every write is atomic (temp file + ``os.replace``) and deterministic.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

STATE_DIR = ".materialize"
STAMP = "stamp.json"
LOCK = "lock"
STAMP_VERSION = 2
# The modification time of every package record (conda-meta/*, dist-info RECORD) once installed:
# fixed, so that the fingerprint (and so the stamp) is the same on every machine, and any tool
# that rewrites a record afterwards changes it. 1980-01-01, the earliest time a zip can hold.
RECORD_MTIME = 315532800


@dataclass(frozen=True)
class Stamp:
    lock_digest: str
    platform: str
    python: str
    tool_version: str
    fingerprint: str
    stamp_version: int = STAMP_VERSION


def read_stamp(prefix: Path) -> Stamp | None:
    try:
        data = json.loads((prefix / STATE_DIR / STAMP).read_text())
        return Stamp(**data) if data.get("stamp_version") == STAMP_VERSION else None
    except (OSError, ValueError, TypeError):
        return None


def write_stamp(prefix: Path, stamp: Stamp) -> None:
    atomic_write(prefix / STATE_DIR / STAMP, json.dumps(asdict(stamp), indent=1, sort_keys=True) + "\n")


def clear_stamp(prefix: Path) -> None:
    """Before any change: a prefix being changed is never current, whatever happens next."""
    (prefix / STATE_DIR / STAMP).unlink(missing_ok=True)


def is_current(prefix: Path, lock_digest: str, tool_version: str) -> bool:
    """The stamp names this lockfile and this tool, and the package records are as the stamp saw them."""
    stamp = read_stamp(prefix)
    return (stamp is not None and stamp.lock_digest == lock_digest and stamp.tool_version == tool_version
            and stamp.fingerprint == fingerprint(prefix, stamp.python))


def fingerprint(prefix: Path, python: str) -> str:
    """A digest of what package managers change when they add, remove or replace a package:
    conda-meta's entries and site-packages' entries (names), with the size and modification time
    of each conda-meta file and dist-info RECORD. rattler, conda, pip and uv cannot change a package
    without changing one of these (``fix_record_times`` gives them a fixed time after an install);
    a Python run writing ``__pycache__`` changes none of them. An edit inside a package's files is
    not seen here: that is what ``verify`` and ``install --repair`` are for."""
    digest = hashlib.sha256()
    for folder, record in _record_places(prefix, python):
        digest.update(b"\0dir:" + os.fsencode(folder.name))
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if entry.name == "__pycache__":
                continue
            digest.update(b"\0" + os.fsencode(entry.name))
            path = record(entry)
            if path is not None:
                try:
                    info = os.lstat(path)
                    digest.update(b"%d %d" % (info.st_size, info.st_mtime_ns))
                except OSError:
                    digest.update(b"absent")
    return digest.hexdigest()


def fix_record_times(prefix: Path, python: str) -> None:
    """Give every package record the fixed ``RECORD_MTIME`` (see ``fingerprint``)."""
    for folder, record in _record_places(prefix, python):
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            path = record(entry)
            if path is not None and os.path.isfile(path):
                os.utime(path, (RECORD_MTIME, RECORD_MTIME), follow_symlinks=False)


def _record_places(prefix: Path, python: str):
    """(folder, entry -> the record file to watch, or None) for conda-meta and site-packages."""
    minor = ".".join(python.split(".")[:2])
    return ((prefix / "conda-meta", lambda entry: entry.path),
            (prefix / "lib" / f"python{minor}" / "site-packages",
             lambda entry: os.path.join(entry.path, "RECORD") if entry.name.endswith(".dist-info") else None))


def clear_leftovers(prefix: Path, keep: tuple[str, ...]) -> None:
    """Remove from ``.materialize/`` what is not ours now: a killed run's temp files, the state
    files of older versions (so that the folder, too, is the same as a clean install's)."""
    folder = prefix / STATE_DIR
    for entry in list(folder.iterdir()) if folder.is_dir() else []:
        if entry.name not in (LOCK, *keep):
            if entry.is_dir() and not entry.is_symlink():
                import shutil

                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def atomic_write(path: Path, text: str, mode: int = 0o644, *, durable: bool = True) -> None:
    """Temp file + rename. ``durable``: fsync'd first (the stamp and the expected state). A package
    record is not: like the files rattler and uv write, it is checked against the expected state
    whenever the stamp is missing, and 180 fsyncs add 0.1-0.2 s on this machine's disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)

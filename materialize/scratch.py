"""Private temporary folders (``materialize-<kind>-*`` in the temp dir, mode 0700), and the sweep that
removes the ones a killed run left behind.

Each folder holds ``.owner``, a file its run keeps locked (``flock``) for as long as the folder is in
use; the kernel drops the lock when the process dies, however it dies. At start, every run removes
the folders of this user whose ``.owner`` it can lock: their run is gone. A folder without
``.owner`` (one just being created, or one made by an older materialize) is removed once it is
older than `ORPHAN_AGE` seconds. Nothing secret is ever written into these folders (credentials
reach children through a socket, see ``engines/child_auth.py``); the sweep keeps the temp dir from
filling up with what kill -9 leaves.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)
PREFIX = "materialize-"
KINDS = ("cred", "pip", "uv")
OWNER = ".owner"
ORPHAN_AGE = 600.0
SHORT_ROOT = Path("/tmp")  # for a socket when the temp dir's path is too long for one (engines/child_auth.py)


@contextmanager
def private_dir(kind: str, root: Path | None = None) -> Iterator[Path]:
    """A fresh 0700 folder ``materialize-<kind>-XXXX`` (in the temp dir, or in ``root``), locked by
    this run, removed when the block ends."""
    folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{kind}-", dir=root))
    handle = _lock_owner(folder)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        os.close(handle)


def _lock_owner(folder: Path) -> int:
    """Lock ``.owner`` before it has its name, so that a sweeper never sees it unlocked."""
    temp = folder / f"{OWNER}.{os.getpid()}"
    handle = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    fcntl.flock(handle, fcntl.LOCK_EX)
    os.replace(temp, folder / OWNER)
    return handle


def sweep(root: Path | None = None) -> list[Path]:
    """Remove this user's ``materialize-<kind>-*`` folders whose run is gone (in ``root``, default: the
    temp dir and `SHORT_ROOT`); returns what was removed."""
    if root is None:
        roots = dict.fromkeys([Path(tempfile.gettempdir()), SHORT_ROOT])
        return [path for each in roots for path in sweep(each)]
    removed = []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(PREFIX) or entry.name[len(PREFIX):].partition("-")[0] not in KINDS:
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not entry.is_dir(follow_symlinks=False) or info.st_uid != os.getuid():
            continue
        if _abandoned(Path(entry.path), info.st_mtime):
            removed.append(Path(entry.path))
    if removed:
        log.debug("removed %d temporary folders of killed runs: %s", len(removed), ", ".join(p.name for p in removed))
    return removed


def _abandoned(folder: Path, mtime: float) -> bool:
    """True (and the folder removed) when no live run holds it."""
    try:
        handle = os.open(folder / OWNER, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        if time.time() - mtime < ORPHAN_AGE:
            return False
        shutil.rmtree(folder, ignore_errors=True)
        return True
    except OSError:
        return False
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # its run is alive
    try:
        shutil.rmtree(folder, ignore_errors=True)
    finally:
        os.close(handle)
    return True

"""What an installed prefix holds, per relative path: kind, digest, size, mode, link target, owner.

Read from the prefix's own expected state (``materialize/prefix/expected.py``: every file each
locked package puts there, as the packages' artifacts say, recorded at install), never from a
scan. Folders are the parents of those files (the only folders an install leaves), with their
modes as they are on disk. ``materialize/prefix`` is read, never written. The state folder
(``.materialize/``) is not part of the result: the image adds its own files (`state_files`).
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..prefix import expected, state as prefix_state

OWN_STATE = expected.OWN  # the owner of the files materialize itself writes, and of the state folder
STATE_FILES = (expected.EXPECTED, prefix_state.STAMP)  # in the image; the lock is the host's own


@dataclass(frozen=True)
class Entry:
    path: str  # relative, "/"-separated
    kind: str  # "file" | "link" | "dir"
    mode: int = 0o644  # permission bits (a link's are not used)
    sha256: str | None = None
    size: int = 0
    target: str | None = None
    owner: str = OWN_STATE  # "conda:<name>", "pypi:<name>" or OWN_STATE


def expected_files(prefix: Path) -> dict[str, Entry]:
    """Every file, link and folder of a finished install, the state folder left out."""
    recorded = expected.read(prefix)
    if recorded is None or prefix_state.read_stamp(prefix) is None:
        raise InputError(f"{prefix}: not a finished materialize environment (no stamp or expected state in "
                         f"{prefix_state.STATE_DIR}/)", hint="materialize install --prefix ... first")
    if recorded.prefix != str(prefix):
        raise InputError(f"{prefix}: was installed for the path {recorded.prefix}; an image of it would only "
                         "mount there", hint=f"push from {recorded.prefix}")
    entries: dict[str, Entry] = {}
    for key, package in recorded.packages.items():
        for rel, file in package.files.items():
            if file.kind == "link":
                entries[rel] = Entry(rel, "link", 0o777, target=file.target, owner=key)
            else:
                entries[rel] = Entry(rel, "file", file.mode, file.sha256, file.size, owner=key)
    folders = {parent for rel in entries for parent in _parents(rel)}
    for rel in sorted(folders):
        entries[rel] = Entry(rel, "dir", stat.S_IMODE(os.lstat(prefix / rel).st_mode))
    return entries


def state_files(prefix: Path) -> dict[str, Entry]:
    """The state files an image carries, so that a mounted image is a finished environment too."""
    found = {}
    for name in STATE_FILES:
        path = prefix / prefix_state.STATE_DIR / name
        if path.is_file():
            data = path.read_bytes()
            rel = f"{prefix_state.STATE_DIR}/{name}"
            found[rel] = Entry(rel, "file", stat.S_IMODE(path.stat().st_mode), hashlib.sha256(data).hexdigest(),
                               len(data))
    state_dir = prefix / prefix_state.STATE_DIR
    found[prefix_state.STATE_DIR] = Entry(prefix_state.STATE_DIR, "dir", stat.S_IMODE(state_dir.stat().st_mode))
    return found


def _parents(rel: str) -> list[str]:
    parts = rel.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]

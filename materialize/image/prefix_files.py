"""What an installed prefix holds, per relative path: kind, digest, size, mode, link target, owner.

The adapter between the prefix and the image: the shape of the prefix's expected state (what
``materialize/prefix/`` is growing), derived today from ``.materialize/manifest.json`` (the
files and their digests, written by install), the owners that conda-meta ``files`` and dist-info
``RECORD`` give (``prefix.verify.owners_of``) and one ``lstat`` per entry (sizes, folder modes).
`expected_files` is the one function to swap for the prefix's own expected state.

``materialize/prefix`` is read, never written. The state folder (``.materialize/``) is not part of
the result: the image adds its own files explicitly (`state_files`).
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..prefix import state as prefix_state
from ..prefix.verify import owners_of

OWN_STATE = "materialize"  # the owner of files no package claims, and of the state folder
STATE_FILES = (prefix_state.MANIFEST, prefix_state.PYPI, prefix_state.STAMP)  # in the image; not the lock


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
    """Every file, link and folder of a finished install, the state folder left out.

    Folders are those that hold an expected entry, plus empty folders (no package owns them; a
    folder only of bytecode written by running the environment is not expected)."""
    manifest = prefix_state.read_manifest(prefix)
    if manifest is None or prefix_state.read_stamp(prefix) is None:
        raise InputError(f"{prefix}: not a finished materialize environment (no stamp or manifest in "
                         f"{prefix_state.STATE_DIR}/)", hint="materialize install --prefix ... first")
    owners = owners_of(prefix)
    entries: dict[str, Entry] = {}
    for rel, record in manifest.items():
        owner = owners.get(rel, OWN_STATE)
        if record["type"] == "link":
            entries[rel] = Entry(rel, "link", 0o777, target=str(record["target"]), owner=owner)
        else:
            size = _size(prefix, rel)
            entries[rel] = Entry(rel, "file", int(str(record["mode"]), 8), str(record["sha256"]), size, owner=owner)
    for rel in _folders(prefix, entries):
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


def _size(prefix: Path, rel: str) -> int:
    try:
        return os.lstat(prefix / rel).st_size
    except FileNotFoundError:
        return -1  # missing: the layer writer reports it as drift


def _folders(prefix: Path, entries: dict[str, Entry]) -> list[str]:
    wanted = {parent for rel in entries for parent in _parents(rel)}
    for folder, dirs, files in os.walk(prefix):
        rel_dir = os.path.relpath(folder, prefix)
        if rel_dir == ".":
            dirs[:] = [d for d in dirs if d != prefix_state.STATE_DIR]
            continue
        if not dirs and not files and os.path.basename(folder) != "__pycache__":
            rel = Path(rel_dir).as_posix()
            wanted.update([rel, *_parents(rel)])
    return sorted(wanted)


def _parents(rel: str) -> list[str]:
    parts = rel.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]

"""The prefix's real tree held against its expected state: what differs, and clearing what is not
expected.

Everything below the prefix counts except materialize's own ``.materialize/`` folder. Bytecode the
environment's Python writes when it runs (``__pycache__/*.pyc`` beside an expected ``.py``) is not
drift: no .pyc is installed, so any there came from running the environment.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

from .expected import STATE_DIR, FileState

_PYC = re.compile(r"^(?P<dir>(?:.*/)?)__pycache__/(?P<stem>[^/.]+)\.[^/]*\.pyc$")


@dataclass
class Entry:
    kind: str  # "file" | "link" | "dir" | "other"
    info: os.stat_result


@dataclass
class Drift:
    modified: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)  # files, links and folders no package puts there
    checked: int = 0

    @property
    def clean(self) -> bool:
        return not (self.modified or self.missing or self.unexpected)


def walk(prefix: Path) -> dict[str, Entry]:
    """Every file, link and folder below ``prefix`` by relative path (``.materialize/`` left out)."""
    found: dict[str, Entry] = {}
    pending = [(os.fspath(prefix), "")]
    while pending:
        folder, rel_dir = pending.pop()
        try:
            listing = list(os.scandir(folder))
        except FileNotFoundError:
            continue
        for item in listing:
            rel = rel_dir + item.name
            if not rel_dir and item.name == STATE_DIR:
                continue
            info = item.stat(follow_symlinks=False)
            if stat.S_ISLNK(info.st_mode):
                found[rel] = Entry("link", info)
            elif stat.S_ISDIR(info.st_mode):
                found[rel] = Entry("dir", info)
                pending.append((item.path, rel + "/"))
            elif stat.S_ISREG(info.st_mode):
                found[rel] = Entry("file", info)
            else:
                found[rel] = Entry("other", info)
    return found


def runtime_bytecode(path: str, expected: dict[str, FileState]) -> bool:
    match = _PYC.match(path)
    return bool(match) and f"{match.group('dir')}{match.group('stem')}.py" in expected


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def matches(path: str, entry: Entry, state: FileState, content: bool = True) -> bool:
    if state.kind == "link":
        return entry.kind == "link" and os.readlink(path) == state.target
    if entry.kind != "file" or entry.info.st_size != state.size or stat.S_IMODE(entry.info.st_mode) != state.mode:
        return False
    return not content or sha256_file(path) == state.sha256


def compare(prefix: Path, expected: dict[str, FileState], tree: dict[str, Entry] | None = None) -> Drift:
    """Every expected file's bytes, mode and link target, and everything unexpected."""
    tree = walk(prefix) if tree is None else tree
    drift = Drift(checked=len(expected))
    base = os.fspath(prefix)
    present = [(path, state) for path, state in expected.items() if path in tree]
    drift.missing = sorted(path for path in expected if path not in tree)

    def check(item) -> str | None:
        path, state = item
        return None if matches(os.path.join(base, path), tree[path], state) else path

    from concurrent.futures import ThreadPoolExecutor  # only when files are hashed

    with ThreadPoolExecutor(max_workers=4) as pool:  # hashlib and reads release the GIL
        drift.modified = sorted(p for p in pool.map(check, present, chunksize=64) if p is not None)
    needed = _folders_of(expected)
    for path, entry in tree.items():
        if path in expected or (entry.kind == "dir" and path in needed):
            continue
        if runtime_bytecode(path, expected) or (entry.kind == "dir" and _only_bytecode(path, tree, expected)):
            continue
        drift.unexpected.append(path)
    # A folder is named only when nothing below it is: an empty stray folder, not every parent.
    inside = {path.rpartition("/")[0] for path in drift.unexpected}
    parents = set()
    for path in inside:
        while path and path not in parents:
            parents.add(path)
            path = path.rpartition("/")[0]
    drift.unexpected = sorted(p for p in drift.unexpected if not (tree[p].kind == "dir" and p in parents))
    return drift


def _folders_of(expected) -> set[str]:
    folders = set()
    for path in expected:
        parent = path.rpartition("/")[0]
        while parent and parent not in folders:
            folders.add(parent)
            parent = parent.rpartition("/")[0]
    return folders


def _only_bytecode(folder: str, tree: dict[str, Entry], expected) -> bool:
    """A ``__pycache__`` folder holding only runtime bytecode of expected sources."""
    if not (folder == "__pycache__" or folder.endswith("/__pycache__")):
        return False
    inside = [p for p in tree if p.startswith(folder + "/")]
    return all(runtime_bytecode(p, expected) for p in inside)


def clear_unexpected(prefix: Path, keep: dict[str, FileState], tree: dict[str, Entry] | None = None) -> list[str]:
    """Delete every file, link and folder that is not in ``keep`` (nor a folder of it, nor runtime
    bytecode of it); then every folder left empty. Returns what was removed."""
    tree = walk(prefix) if tree is None else tree
    needed = _folders_of(keep)
    removed = []
    for path in sorted(tree, key=lambda p: p.count("/"), reverse=True):
        entry = tree[path]
        if path in keep or runtime_bytecode(path, keep):
            continue
        full = prefix / path
        if entry.kind == "dir":
            if path in needed or _only_bytecode(path, tree, keep):
                continue
            shutil.rmtree(full, ignore_errors=True)
        else:
            full.unlink(missing_ok=True)
        removed.append(path)
    return sorted(removed)


def remove_files(prefix: Path, paths, last: tuple[str, ...] = ()) -> None:
    """Delete ``paths`` (files or links) and their runtime bytecode, ``last`` ones after the rest,
    then prune the folders left empty."""
    ordered = [p for p in paths if p not in last] + [p for p in last if p in set(paths)]
    folders = set()
    for path in ordered:
        full = prefix / path
        if path.endswith(".py"):
            for cached in full.parent.glob(f"__pycache__/{full.stem}.*.pyc"):
                cached.unlink(missing_ok=True)
            folders.add(full.parent / "__pycache__")
        if full.is_symlink() or full.exists():
            full.unlink()
        folders.add(full.parent)
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        prune_empty(folder, prefix)


def prune_empty(folder: Path, stop: Path) -> None:
    while folder != stop and stop in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent

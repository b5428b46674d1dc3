"""What a prefix holds: a stamp (lockfile digest, tool version) written last, a file manifest, and
which artifact each uv-installed distribution came from.

All live in ``<prefix>/.materialize/``, which the manifest itself leaves out. Reading the stamp
imports nothing heavy: it is the whole of a no-op install. Every write is atomic (temp file +
``os.replace``) and deterministic (sorted keys), so a killed install never leaves half a file and
two installs of one lockfile write the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

STATE_DIR = ".materialize"
STAMP = "stamp.json"
MANIFEST = "manifest.json"
PYPI = "pypi.json"  # canonical name -> the artifact uv installed (wheel sha256, git URL, local source digest)
STAMP_VERSION = 1


@dataclass(frozen=True)
class Stamp:
    lock_digest: str
    platform: str
    python: str
    tool_version: str
    stamp_version: int = STAMP_VERSION


def read_stamp(prefix: Path) -> Stamp | None:
    try:
        data = json.loads((prefix / STATE_DIR / STAMP).read_text())
        return Stamp(**data) if data.get("stamp_version") == STAMP_VERSION else None
    except (OSError, ValueError, TypeError):
        return None


def write_stamp(prefix: Path, stamp: Stamp) -> None:
    _atomic_json(prefix / STATE_DIR / STAMP, stamp.__dict__)


def clear_stamp(prefix: Path) -> None:
    """Before any change: a prefix being changed is never 'fresh', whatever happens next."""
    (prefix / STATE_DIR / STAMP).unlink(missing_ok=True)


def is_fresh(prefix: Path, lock_digest: str, tool_version: str) -> bool:
    stamp = read_stamp(prefix)
    return stamp is not None and stamp.lock_digest == lock_digest and stamp.tool_version == tool_version


def file_entry(path: Path) -> dict[str, object]:
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        return {"type": "link", "target": os.readlink(path)}
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return {"type": "file", "sha256": digest, "mode": oct(stat.S_IMODE(info.st_mode))}


def scan(prefix: Path) -> dict[str, dict[str, object]]:
    """Every file and link below ``prefix`` (state dir left out), by relative path."""
    entries: dict[str, dict[str, object]] = {}
    for folder, dirs, files in os.walk(prefix):
        here = Path(folder)
        if here == prefix:
            dirs[:] = [d for d in dirs if d != STATE_DIR]
        for name in files + [d for d in dirs if (here / d).is_symlink()]:
            path = here / name
            entries[path.relative_to(prefix).as_posix()] = file_entry(path)
    return dict(sorted(entries.items()))


def write_manifest(prefix: Path, manifest: dict[str, dict[str, object]]) -> None:
    _atomic_json(prefix / STATE_DIR / MANIFEST, manifest)


def read_manifest(prefix: Path) -> dict[str, dict[str, object]] | None:
    try:
        return json.loads((prefix / STATE_DIR / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def read_pypi(prefix: Path) -> dict[str, str]:
    try:
        data = json.loads((prefix / STATE_DIR / PYPI).read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def write_pypi(prefix: Path, installed: dict[str, str]) -> None:
    """An empty record is no file, as in a prefix that never had PyPI packages (same tree either way)."""
    if installed:
        _atomic_json(prefix / STATE_DIR / PYPI, installed)
    else:
        (prefix / STATE_DIR / PYPI).unlink(missing_ok=True)


def _atomic_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(path.name + ".tmp")
    with temp.open("w") as handle:
        handle.write(json.dumps(data, indent=1, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(temp, 0o644)
    os.replace(temp, path)

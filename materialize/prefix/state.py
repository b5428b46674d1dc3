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


def scan(prefix: Path, known: dict[str, tuple[int, str]] | None = None) -> dict[str, dict[str, object]]:
    """Every file and link below ``prefix`` (state dir left out), by relative path.

    ``known`` (relative path -> (size, sha256)) holds the digests the installers recorded for the
    files they wrote (``installed_digests``); a file of that size takes its digest from there
    instead of being read again. A wrong record can only make ``verify`` report drift, never hide
    it: verify hashes every file."""
    known = known or {}
    entries: dict[str, dict[str, object]] = {}
    modes: dict[int, str] = {}  # st_mode -> oct(permission bits): a few distinct values for ~30k files
    pending = [(os.fspath(prefix), "")]
    while pending:
        folder, rel_dir = pending.pop()
        with os.scandir(folder) as listing:
            for item in listing:
                rel = rel_dir + item.name
                if not rel_dir and item.name == STATE_DIR:
                    continue
                if item.is_symlink():
                    entries[rel] = {"type": "link", "target": os.readlink(item.path)}
                elif item.is_dir(follow_symlinks=False):
                    pending.append((item.path, rel + "/"))
                else:
                    info = item.stat(follow_symlinks=False)
                    seed = known.get(rel)
                    if seed is not None and seed[0] == info.st_size:
                        digest = seed[1]
                    else:
                        with open(item.path, "rb") as handle:
                            digest = hashlib.sha256(handle.read()).hexdigest()
                    mode = modes.get(info.st_mode)
                    if mode is None:
                        mode = modes[info.st_mode] = oct(stat.S_IMODE(info.st_mode))
                    entries[rel] = {"type": "file", "sha256": digest, "mode": mode}
    return entries  # unordered: write_manifest sorts the keys


def installed_digests(prefix: Path) -> dict[str, tuple[int, str]]:
    """(size, sha256) of the files rattler linked (conda-meta ``paths_data``: checked against the
    package before linking, ``sha256_in_prefix`` after a prefix rewrite) and of the files uv installed
    (dist-info ``RECORD`` of a wheel whose sha256 the lockfile pins)."""
    import base64
    import csv

    from . import conda_meta

    known: dict[str, tuple[int, str]] = {}
    for data in conda_meta.records(prefix).values():
        for entry in (data.get("paths_data") or {}).get("paths", []):
            digest = entry.get("sha256_in_prefix") or entry.get("sha256")
            if digest and entry.get("size_in_bytes") is not None and entry.get("path_type", "hardlink") == "hardlink":
                known[entry["_path"]] = (int(entry["size_in_bytes"]), digest)
    for site in sorted(prefix.glob("lib/python3*/site-packages"))[-1:]:
        site_rel = site.relative_to(prefix).as_posix()
        for record in site.glob("*.dist-info/RECORD"):
            installer = record.with_name("INSTALLER")
            if not installer.is_file() or installer.read_text().strip() != "uv":
                continue
            for row in csv.reader(record.read_text().splitlines()):
                if len(row) >= 3 and row[1].startswith("sha256=") and row[2].isdigit():
                    encoded = row[1][len("sha256="):]
                    raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
                    known[os.path.normpath(f"{site_rel}/{row[0]}")] = (int(row[2]), raw.hex())
    return known


def write_manifest(prefix: Path, manifest: dict[str, dict[str, object]]) -> None:
    _atomic_json(prefix / STATE_DIR / MANIFEST, manifest, compact=True)  # ~30k entries: the C encoder


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


def _atomic_json(path: Path, data: object, compact: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(path.name + ".tmp")
    if compact:
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    else:
        text = json.dumps(data, indent=1, sort_keys=True)
    with temp.open("w") as handle:
        handle.write(text + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(temp, 0o644)
    os.replace(temp, path)

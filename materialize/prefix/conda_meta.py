"""conda-meta/*.json as rattler leaves them, made reproducible and mountable; reading them back.

rattler records where the archive and its extraction lay in *our* cache, and (since we hand it
verified local archives) a file:// URL into that cache. Put back the lockfile's URL and channel,
drop the cache paths (and ``link``, whose ``source`` is the extraction folder: rattler reads a
record without ``link`` but not one with a ``link`` lacking ``source``), and make the files
world-readable (rattler writes them 0600).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path

from ..lockfile import CondaEntry

_MACHINE_FIELDS = ("extracted_package_dir", "package_tarball_full_path", "link")
_DIST_INFO = re.compile(r"(?:^|/)site-packages/([^/]+?)-[^/-]+\.(?:dist-info|egg-info)/")


def normalize(prefix: Path, entries: Mapping[str, CondaEntry], channels: list[str]) -> None:
    folder = prefix / "conda-meta"
    for path in sorted(folder.glob("*.json")):
        original = path.read_text()
        data = json.loads(original)
        entry = entries.get(data.get("name", ""))
        if entry is None:
            continue
        if _normalized(data, entry, channels):  # what an earlier run wrote: no json.dumps, no rewrite
            if path.stat().st_mode & 0o777 != 0o644:
                os.chmod(path, 0o644)
            continue
        for key in _MACHINE_FIELDS:
            data.pop(key, None)
        data["url"] = entry.url
        data["channel"] = _channel_of(entry.url, channels)
        data["fn"] = entry.url.rsplit("/", 1)[-1]
        # Compact: the C encoder (indent= falls back to the pure-Python one, 4x slower on ~9 MB).
        text = json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n"
        if text != original:
            temp = path.with_name(path.name + ".tmp")
            temp.write_text(text)
            os.chmod(temp, 0o644)
            os.replace(temp, path)
        else:
            os.chmod(path, 0o644)
        _remember(path, data)  # what is on disk now: records() need not parse it again
    history = folder / "history"
    if history.exists():
        os.chmod(history, 0o644)
    stray_tag = prefix / "CACHEDIR.TAG"  # rattler tags the target prefix as if it were a cache
    if stray_tag.is_file() and "rattler" in stray_tag.read_text(errors="replace"):
        stray_tag.unlink()


def _normalized(data: dict, entry: CondaEntry, channels: list[str]) -> bool:
    return (not any(key in data for key in _MACHINE_FIELDS) and data.get("url") == entry.url
            and data.get("fn") == entry.url.rsplit("/", 1)[-1]
            and data.get("channel") == _channel_of(entry.url, channels))


def repair(prefix: Path) -> list[str]:
    """Before linking: drop what a killed install left in conda-meta (rattler's and our temp files,
    records that do not parse). rattler then sees those packages as absent and links them again."""
    removed = []
    folder = prefix / "conda-meta"
    for temp in sorted([*folder.glob("*.tmp"), *folder.glob("prefix_record_*")]):
        temp.unlink(missing_ok=True)
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text())
            if not isinstance(data, dict) or "name" not in data or "files" not in data:
                raise ValueError("not a package record")
        except (OSError, ValueError, UnicodeDecodeError):
            path.unlink(missing_ok=True)
            removed.append(path.name)
    return removed


# path -> ((size, mtime_ns, inode), parsed JSON): one install reads conda-meta ~8 times
# (repair, installed before/after, python_distributions per uv query); parse each file once.
_PARSED: dict[str, tuple[tuple[int, int, int], dict]] = {}


def _remember(path: Path, data: dict) -> None:
    info = path.stat()
    _PARSED[str(path)] = ((info.st_size, info.st_mtime_ns, info.st_ino), data)


def _parsed(path: Path) -> dict:
    info = path.stat()
    key = (info.st_size, info.st_mtime_ns, info.st_ino)
    hit = _PARSED.get(str(path))
    if hit is None or hit[0] != key:
        hit = (key, json.loads(path.read_text()))
        _PARSED[str(path)] = hit
    return hit[1]


def records(prefix: Path) -> dict[str, dict]:
    """Every readable package record: name -> its conda-meta JSON (plus ``_record``, the file name)."""
    found = {}
    for path in sorted((prefix / "conda-meta").glob("*.json")):
        try:
            data = _parsed(path)
            found[data["name"]] = {**data, "_record": path.name}
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return found


def installed(prefix: Path) -> dict[str, str]:
    """name -> "version-build" of every conda package in the prefix."""
    return {name: f"{data.get('version')}-{data.get('build', '')}" for name, data in records(prefix).items()}


def conda_owned_paths(prefix: Path) -> set[str]:
    """Every file path that a conda package installed (relative to the prefix)."""
    owned: set[str] = set()
    for data in records(prefix).values():
        owned.update(data.get("files", []))
    return owned


_DISTS: dict[tuple, dict[str, str]] = {}


def python_distributions(prefix: Path) -> dict[str, str]:
    """Canonical distribution name -> the conda package that ships its dist-info."""
    from packaging.utils import canonicalize_name

    found_records = records(prefix)
    key = tuple(sorted((name, data["_record"], _PARSED[str(prefix / "conda-meta" / data["_record"])][0])
                       for name, data in found_records.items()))
    if key in _DISTS:
        return dict(_DISTS[key])
    found = _DISTS[key] = {}
    for name, data in found_records.items():
        for path in data.get("files", []):
            match = _DIST_INFO.search(path)
            if match:
                found[canonicalize_name(match.group(1))] = name
    return dict(found)


def holds_exactly(prefix: Path, entries) -> bool:
    """True when conda-meta records exactly these packages (file name and sha256), none broken."""
    folder = prefix / "conda-meta"
    if not entries or any(folder.glob("*.tmp")) or any(folder.glob("prefix_record_*")):
        return False
    have = {(data.get("fn"), data.get("sha256")) for data in records(prefix).values()}
    return have == {(e.url.rsplit("/", 1)[-1], e.sha256) for e in entries} and \
        len(list(folder.glob("*.json"))) == len(have)


def installed_python(prefix: Path) -> str | None:
    for path in (prefix / "conda-meta").glob("python-[0-9]*.json"):
        try:
            return str(json.loads(path.read_text())["version"])
        except (ValueError, KeyError):
            continue
    return None


def _channel_of(url: str, channels: list[str]) -> str:
    for channel in channels:
        if url.startswith(channel.rstrip("/") + "/"):
            return channel
    return url.rsplit("/", 2)[0]

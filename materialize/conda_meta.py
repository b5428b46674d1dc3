"""conda-meta/*.json as rattler leaves them, made reproducible and mountable.

rattler records where the archive and its extraction lay in *our* cache, and (since we hand it
verified local archives) a file:// URL into that cache. Put back the lockfile's URL and channel,
drop the cache paths, and make the files world-readable (rattler writes them 0600).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from .lockfile import CondaEntry

_MACHINE_FIELDS = ("extracted_package_dir", "package_tarball_full_path")


def normalize(prefix: Path, entries: Mapping[str, CondaEntry], channels: list[str]) -> None:
    folder = prefix / "conda-meta"
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text())
        entry = entries.get(data.get("name", ""))
        if entry is None:
            continue
        for key in _MACHINE_FIELDS:
            data.pop(key, None)
        if isinstance(data.get("link"), dict):
            data["link"].pop("source", None)  # the extraction folder in our cache
        data["url"] = entry.url
        data["channel"] = _channel_of(entry.url, channels)
        data["fn"] = entry.url.rsplit("/", 1)[-1]
        text = json.dumps(data, indent=2, sort_keys=True) + "\n"
        if text != path.read_text():
            temp = path.with_name(path.name + ".tmp")
            temp.write_text(text)
            os.replace(temp, path)
        os.chmod(path, 0o644)
    history = folder / "history"
    if history.exists():
        os.chmod(history, 0o644)
    stray_tag = prefix / "CACHEDIR.TAG"  # rattler tags the target prefix as if it were a cache
    if stray_tag.is_file() and "rattler" in stray_tag.read_text(errors="replace"):
        stray_tag.unlink()


def conda_owned_paths(prefix: Path) -> set[str]:
    """Every file path that a conda package installed (relative to the prefix)."""
    owned: set[str] = set()
    for path in (prefix / "conda-meta").glob("*.json"):
        try:
            owned.update(json.loads(path.read_text()).get("files", []))
        except ValueError:
            continue
    return owned


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

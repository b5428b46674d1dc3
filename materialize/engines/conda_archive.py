"""What a conda package archive says it holds, read from its own ``info/`` (by ``package_info``):
index.json, link.json and paths.json, whose sha256 and size of every file are where the expected
state of a prefix's conda files comes from (not rattler's extracted cache, not a scan of the
prefix). The archive's own sha256 was checked against the lockfile before it is read here, and
rattler checks every extracted file against the same paths.json (full validation) before linking.

Only ``info/`` is read: for a ``.conda`` archive that is one small member, the payload stays
compressed. The answer is remembered in the cache under the archive's sha256
(``conda-info-v1/<sha256>.json``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .. import cache

CONTENTS_VERSION = 1
INFO_FILES = frozenset({"info/index.json", "info/paths.json", "info/link.json", "info/files", "info/has_prefix"})


@dataclass(frozen=True)
class ArchiveContents:
    index: dict  # info/index.json
    paths: list[dict]  # info/paths.json "paths" (or made from info/files + info/has_prefix)
    link: dict | None  # info/link.json

    def to_json(self) -> dict:
        return {"version": CONTENTS_VERSION, "index": self.index, "paths": self.paths, "link": self.link}

    @classmethod
    def from_json(cls, data: dict) -> "ArchiveContents":
        if data.get("version") != CONTENTS_VERSION:
            raise ValueError("another contents version")
        return cls(dict(data["index"]), list(data["paths"]), data.get("link"))


def contents(archive: Path, sha256: str) -> ArchiveContents:
    """The archive's info/, remembered under its (already verified) sha256."""
    memo = cache.root() / cache.CONDA_CONTENTS / f"{sha256}.json"
    try:
        return ArchiveContents.from_json(json.loads(memo.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    found = read(archive, sha256)
    cache.remember(memo, json.dumps(found.to_json(), sort_keys=True, separators=(",", ":")))
    return found


def read(archive: Path, sha256: str = "") -> ArchiveContents:
    """Read ``info/`` of a local .conda or .tar.bz2 archive (``package_info`` does the reading)."""
    from .package_info import read_info

    info = read_info(archive.as_uri(), sha256, INFO_FILES)
    index = json.loads(info.get("info/index.json", b"{}"))
    link = json.loads(info["info/link.json"]) if "info/link.json" in info else None
    return ArchiveContents(index, _paths(info), link)


def _paths(info: dict[str, bytes]) -> list[dict]:
    if "info/paths.json" in info:
        return list(json.loads(info["info/paths.json"]).get("paths", []))
    # Old packages: info/files plus info/has_prefix lines (`placeholder mode path` or just `path`).
    prefixed = {}
    for line in info.get("info/has_prefix", b"").decode().splitlines():
        parts = line.strip().split()
        if len(parts) == 3:
            prefixed[parts[2].strip('"')] = (parts[0].strip('"'), parts[1])
        elif len(parts) == 1:
            prefixed[parts[0]] = ("/opt/anaconda1anaconda2anaconda3", "text")
    paths = []
    for name in info.get("info/files", b"").decode().splitlines():
        if not name.strip():
            continue
        entry = {"_path": name.strip(), "path_type": "hardlink"}
        if name.strip() in prefixed:
            entry["prefix_placeholder"], entry["file_mode"] = prefixed[name.strip()]
        paths.append(entry)
    return paths

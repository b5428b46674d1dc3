"""What a conda package archive holds, read from the archive itself (conda-package-streaming).

Its ``info/`` metadata (index.json, paths.json, link.json) and every payload member: type, mode,
size, sha256 and link target. This is where the expected state of a prefix's conda files comes
from (not from rattler's extracted cache, not from a scan of the prefix): the archive's own
sha256 was checked against the lockfile before it is read here, and each member's digest is
checked against the package's own paths.json while reading.

Reading decompresses the payload once; the answer is remembered in the cache under the
archive's sha256 (``conda-contents-v1/<sha256>.json``), so each package version is read once per
machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from .. import cache
from ..errors import IntegrityError

CONTENTS_VERSION = 1
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Member:
    """One payload member of the archive (its path as packaged, before any noarch relocation)."""

    kind: str  # "file" | "link" | "dir"
    mode: int  # permission bits
    size: int
    sha256: str  # files only
    target: str  # links only


@dataclass(frozen=True)
class ArchiveContents:
    index: dict  # info/index.json
    paths: list[dict]  # info/paths.json "paths" (or made from info/files + info/has_prefix)
    link: dict | None  # info/link.json
    members: dict[str, Member]

    def to_json(self) -> dict:
        return {"version": CONTENTS_VERSION, "index": self.index, "paths": self.paths, "link": self.link,
                "members": {path: [m.kind, m.mode, m.size, m.sha256, m.target]
                            for path, m in sorted(self.members.items())}}

    @classmethod
    def from_json(cls, data: dict) -> "ArchiveContents":
        if data.get("version") != CONTENTS_VERSION:
            raise ValueError("another contents version")
        members = {path: Member(kind, int(mode), int(size), sha, target)
                   for path, (kind, mode, size, sha, target) in data["members"].items()}
        return cls(dict(data["index"]), list(data["paths"]), data.get("link"), members)


def contents(archive: Path, sha256: str) -> ArchiveContents:
    """The archive's contents, remembered under its (already verified) sha256."""
    memo = cache.root() / cache.CONDA_CONTENTS / f"{sha256}.json"
    try:
        return ArchiveContents.from_json(json.loads(memo.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    found = read(archive)
    memo.parent.mkdir(parents=True, exist_ok=True)
    temp = memo.with_name(f".{memo.name}.{os.getpid()}.tmp")
    temp.write_text(json.dumps(found.to_json(), sort_keys=True, separators=(",", ":")))
    os.replace(temp, memo)
    return found


def read(archive: Path) -> ArchiveContents:
    """Read ``info/`` and hash every payload member (.conda or .tar.bz2)."""
    from conda_package_streaming.package_streaming import stream_conda_component

    info: dict[str, bytes] = {}
    members: dict[str, Member] = {}
    components = ("info", "pkg") if archive.name.endswith(".conda") else ("pkg",)  # .tar.bz2: one tarball
    for component in components:
        for tar, member in stream_conda_component(str(archive), component=component):
            if member.name.startswith("info/"):
                if member.isfile() and member.name in ("info/index.json", "info/paths.json", "info/link.json",
                                                       "info/files", "info/has_prefix"):
                    info[member.name] = tar.extractfile(member).read()
                continue
            members[member.name] = _member(tar, member)
    index = json.loads(info.get("info/index.json", b"{}"))
    link = json.loads(info["info/link.json"]) if "info/link.json" in info else None
    paths = _paths(info)
    _check_digests(archive, paths, members)
    return ArchiveContents(index, paths, link, members)


def _member(tar, member) -> Member:
    mode = stat.S_IMODE(member.mode)
    if member.issym():
        return Member("link", mode, 0, "", member.linkname)
    if member.isdir():
        return Member("dir", mode, 0, "", "")
    digest = hashlib.sha256()
    handle = tar.extractfile(member)
    for chunk in iter(lambda: handle.read(_CHUNK), b""):
        digest.update(chunk)
    return Member("file", mode, member.size, digest.hexdigest(), "")


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


def _check_digests(archive: Path, paths: list[dict], members: dict[str, Member]) -> None:
    """Every file paths.json names is in the payload with the digest paths.json gives it."""
    for entry in paths:
        member = members.get(entry["_path"])
        if member is None:
            raise IntegrityError(f"{archive.name}: info/paths.json names {entry['_path']}, which the package "
                                 "does not contain", hint="the package is broken; re-lock against another build")
        wanted = entry.get("sha256")
        if member.kind == "file" and wanted and wanted != member.sha256:
            raise IntegrityError(f"{archive.name}: {entry['_path']} has sha256 {member.sha256}, but the package's "
                                 f"info/paths.json says {wanted}", hint="the package is broken; re-lock against "
                                 "another build")

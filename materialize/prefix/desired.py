"""What an install wants the prefix to hold: the lock's packages for one platform, each with the
verified artifact it comes from and the files it puts there, predicted from that artifact.

A conda package's files come from its own ``info/paths.json`` (``engines/conda_archive``), with
noarch-python paths relocated into this Python's site-packages and ``python-scripts/`` into
``bin/``; a wheel's from its members (``engines/wheel_archive``) laid out as an installer lays
them out. What only the engine can know is left for it to fill in while installing: the digest of
a prefix-replaced file or a generated entry point (rattler records it), the modes and link targets
rattler gives the files it links, the RECORD, INSTALLER and scripts that uv writes.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..lockfile import CondaEntry
from .expected import file_json, site_packages

if TYPE_CHECKING:  # zipfile and the archive readers: imported where an artifact is read
    from ..engines.conda_archive import ArchiveContents
    from ..engines.wheel_archive import WheelMember


@dataclass
class CondaWant:
    entry: CondaEntry
    archive: Path | None = None  # verified, in the cache (None while the prefix already holds it)
    requested: tuple[str, ...] = ()  # the specs from conda-packages.txt that asked for it
    _contents: ArchiveContents | None = field(default=None, repr=False, compare=False)
    _files: "CondaFiles | None" = field(default=None, repr=False, compare=False)

    @property
    def contents(self) -> ArchiveContents:
        """Its archive's info/ (remembered per sha256): read only when an install needs its file
        list, which a repeated install of the same lockfile does not (conda_link, install)."""
        if self._contents is None:
            from ..engines import conda_archive

            self._contents = conda_archive.contents(self.archive, self.entry.sha256)
        return self._contents

    def files(self, python: str) -> "CondaFiles":
        """What it puts in a prefix of Python ``python`` (from ``contents``; computed once)."""
        if self._files is None:
            self._files = conda_files(self.contents, python)
        return self._files

    @property
    def key(self) -> str:
        return f"conda:{self.entry.name}"

    @property
    def identity(self) -> str:
        """The archive, by URL and digest: its record holds the URL, so a new URL is a new record."""
        return f"{self.entry.url}#sha256={self.entry.sha256}"

    @property
    def stem(self) -> str:
        return f"{self.entry.name}-{self.entry.version}-{self.entry.build}"


@dataclass
class PypiWant:
    name: str  # canonical
    version: str
    identity: str  # wheel/sdist sha256, git URL, "source:<digest>"
    kind: str  # "wheel" | "sdist" | "vcs" | "local"
    url: str = ""  # the lock's URL (vcs: may hold ${VAR} tokens), or the local project's path
    sha256: str = ""
    artifact: Path | None = None  # verified, in the cache (wheels and sdists)
    _layout: "WheelLayout | None" = field(default=None, repr=False, compare=False)

    @property
    def key(self) -> str:
        return f"pypi:{self.name}"

    def layout(self, python: str) -> "WheelLayout | None":
        """Where its wheel's members go for Python ``python`` (None without a verified wheel)."""
        if self._layout is None and self.kind == "wheel" and self.artifact is not None:
            self._layout = wheel_layout(self.artifact, self.sha256, python)
        return self._layout

    def member_files(self, python: str) -> dict[str, list]:
        """The files its wheel's members fix at their install paths, in expected.json's form ({}
        without a wheel; computed once)."""
        layout = self.layout(python)
        return layout.files if layout is not None else {}


@dataclass
class WheelLayout:
    dist_info: str  # the .dist-info folder's name
    files: dict[str, list]  # the files the members fix, at their install paths (expected.json's form)


def wheel_layout(wheel: Path, sha256: str, python: str) -> WheelLayout:
    """A verified wheel's layout for one Python minor, remembered under its sha256 (the members
    are read from the wheel, or their own memo, once: ``wheel_archive``)."""
    import json

    from .. import cache

    memo = cache.root() / cache.WHEEL_LAYOUTS / f"{sha256}-py{'.'.join(python.split('.')[:2])}.json"
    try:
        data = json.loads(memo.read_text())
        return WheelLayout(str(data["dist_info"]), dict(data["files"]))
    except (OSError, ValueError, TypeError, KeyError):
        pass
    from ..engines import wheel_archive

    files, dist_info = wheel_files(wheel_archive.contents(wheel, sha256), python)
    cache.remember(memo, json.dumps({"dist_info": dist_info, "files": files}, sort_keys=True, separators=(",", ":")))
    return WheelLayout(dist_info, files)


@dataclass
class Want:
    lock_digest: str
    platform: str
    python: str  # full version
    channels: list[str]
    conda: list[CondaWant] = field(default_factory=list)
    pypi: list[PypiWant] = field(default_factory=list)

    def identities(self) -> dict[str, str]:
        return {w.key: w.identity for w in [*self.conda, *self.pypi]}


@dataclass
class CondaFiles:
    """What a conda package puts in the prefix, by path: the digest and size paths.json gives each
    file; the symlinks; the files whose bytes linking derives (prefix-replaced, entry points)."""

    digests: dict[str, tuple[str, int]] = field(default_factory=dict)
    links: set[str] = field(default_factory=set)
    derived: set[str] = field(default_factory=set)

    @property
    def paths(self) -> set[str]:
        return set(self.digests) | self.links | self.derived


def conda_files(contents: ArchiveContents, python: str) -> CondaFiles:
    relocate = _noarch_python_relocation(python) if is_noarch_python(contents) else (lambda path: path)
    files = CondaFiles()
    for entry in contents.paths:
        path = relocate(entry["_path"])
        kind = entry.get("path_type", "hardlink")
        if kind == "directory":
            continue
        if kind == "softlink":
            files.links.add(path)
        elif entry.get("prefix_placeholder") or not entry.get("sha256") or entry.get("size_in_bytes") is None:
            files.derived.add(path)  # its bytes depend on the prefix (or paths.json gives none): linking says
        else:
            files.digests[path] = (entry["sha256"], int(entry["size_in_bytes"]))
    if is_noarch_python(contents):
        for spec in ((contents.link or {}).get("noarch") or {}).get("entry_points") or []:
            files.derived.add(f"bin/{spec.split('=')[0].strip()}")
    return files


def is_noarch_python(contents: ArchiveContents) -> bool:
    noarch = contents.index.get("noarch")
    link_type = ((contents.link or {}).get("noarch") or {}).get("type")
    return noarch == "python" or link_type == "python"


def _noarch_python_relocation(python: str):
    site = site_packages(python)

    def relocate(path: str) -> str:
        if path.startswith("site-packages/"):
            return f"{site}/{path[len('site-packages/'):]}"
        if path.startswith("python-scripts/"):
            return f"bin/{path[len('python-scripts/'):]}"
        return path

    return relocate


def conda_python_dists(paths, site: str) -> set[str]:
    """Distribution names (canonical) whose dist-info or egg-info lies in ``site`` among ``paths``."""
    from packaging.utils import canonicalize_name

    inside = site + "/"
    # a substring test first (in C): ~25,000 paths of which a few hundred are metadata
    candidates = [path for path in paths if ".dist-info" in path or ".egg-info" in path]
    tops = {path[len(inside):].split("/", 1)[0] for path in candidates if path.startswith(inside)}
    return {canonicalize_name(top.rsplit(".", 1)[0].rpartition("-")[0]) for top in tops
            if top.endswith((".dist-info", ".egg-info"))}


def wheel_files(members: dict[str, WheelMember], python: str) -> tuple[dict[str, list], str]:
    """(the files the wheel's members fix, at their install paths, in expected.json's form; the
    dist-info folder name).

    Purelib/platlib members go to site-packages and ``.data/data/`` to the prefix root, byte for
    byte. The installer writes the rest itself (RECORD, INSTALLER, REQUESTED, console scripts,
    ``.data/scripts`` and headers): those are recorded from the prefix right after it installs."""
    site = site_packages(python)
    dist_info = dist_info_of(members)
    data = dist_info[: -len(".dist-info")] + ".data"
    known: dict[str, list] = {}
    for name, member in members.items():
        if name == f"{dist_info}/RECORD":
            continue
        top, _, rest = name.partition("/")
        if top == data:
            scheme, _, relative = rest.partition("/")
            if scheme in ("purelib", "platlib"):
                path = f"{site}/{relative}"
            elif scheme == "data":
                path = relative
            else:
                continue
        else:
            path = f"{site}/{name}"
        known[normalized(path)] = file_json(0o755 if member.executable else 0o644, member.size, member.sha256)
    return known, dist_info


def normalized(path: str) -> str:
    """``posixpath.normpath``, called only where it could change something: RECORD rows like
    '../../../bin/x' are rare, and normpath over every one of ~5,000 paths costs more than this test."""
    if "/." in path or "//" in path or path.startswith(".") or path.endswith("/"):
        return posixpath.normpath(path)
    return path


def dist_info_of(members) -> str:
    for name in members:
        top, _, rest = name.partition("/")
        if top.endswith(".dist-info") and rest == "METADATA":
            return top
    raise ValueError("the wheel has no .dist-info/METADATA")

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

from ..engines.conda_archive import ArchiveContents
from ..engines.wheel_archive import WheelMember
from ..lockfile import CondaEntry
from .expected import FileState, site_packages


@dataclass
class CondaWant:
    entry: CondaEntry
    archive: Path | None = None  # verified, in the cache (None while the prefix already holds it)
    contents: ArchiveContents | None = None
    requested: tuple[str, ...] = ()  # the specs from conda-packages.txt that asked for it

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
    members: dict[str, WheelMember] | None = None  # wheels only

    @property
    def key(self) -> str:
        return f"pypi:{self.name}"


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

    found = set()
    for path in paths:
        if path.startswith(site + "/"):
            top = path[len(site) + 1:].split("/", 1)[0]
            if top.endswith((".dist-info", ".egg-info")):
                found.add(canonicalize_name(top.rsplit(".", 1)[0].rpartition("-")[0]))
    return found


def wheel_files(members: dict[str, WheelMember], python: str) -> tuple[dict[str, FileState], str]:
    """(the file states the wheel's members fix, at their install paths; the dist-info folder name).

    Purelib/platlib members go to site-packages and ``.data/data/`` to the prefix root, byte for
    byte. The installer writes the rest itself (RECORD, INSTALLER, REQUESTED, console scripts,
    ``.data/scripts`` and headers): those are recorded from the prefix right after it installs."""
    site = site_packages(python)
    dist_info = dist_info_of(members)
    data = dist_info[: -len(".dist-info")] + ".data"
    known: dict[str, FileState] = {}
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
        known[posixpath.normpath(path)] = FileState("file", 0o755 if member.executable else 0o644, member.size,
                                                    member.sha256)
    return known, dist_info


def dist_info_of(members) -> str:
    for name in members:
        top, _, rest = name.partition("/")
        if top.endswith(".dist-info") and rest == "METADATA":
            return top
    raise ValueError("the wheel has no .dist-info/METADATA")

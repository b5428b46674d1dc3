"""The expected state of a prefix: every file each installed package puts there, with its bytes
(sha256, size), mode or link target, as the locked packages' own artifacts say.

It is built before an install from the verified artifacts (a conda package's contents and
paths.json, a wheel's members), completed with what the engines derive while installing (the
digest that linking gives a prefix-replaced file, the RECORD and scripts an installer writes),
and written to ``<prefix>/.materialize/expected.json``. ``verify`` compares the real tree with it,
``install --repair`` restores it, an image is cut from it: nothing of it comes from a scan of
whatever the prefix happens to hold.

Package keys are ``conda:<name>``, ``pypi:<canonical name>``, and ``materialize`` for the few
files the tool itself writes (``conda-meta/history``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

STATE_DIR = ".materialize"
EXPECTED = "expected.json"
EXPECTED_VERSION = 1
OWN = "materialize"


@dataclass(frozen=True)
class FileState:
    kind: str  # "file" | "link"
    mode: int = 0o644  # permission bits (files)
    size: int = 0
    sha256: str = ""
    target: str = ""  # links

    def to_json(self) -> list:
        if self.kind == "link":
            return ["l", self.target]
        return ["f", format(self.mode, "o"), self.size, self.sha256]

    @classmethod
    def from_json(cls, data: list) -> "FileState":
        if data[0] == "l":
            return cls("link", target=str(data[1]))
        return cls("file", int(data[1], 8), int(data[2]), str(data[3]))


@dataclass
class PackageState:
    key: str  # "conda:six", "pypi:six", "materialize"
    identity: str  # conda archive sha256, wheel sha256, git URL, "source:<digest>" of a local project
    version: str
    files: dict[str, FileState] = field(default_factory=dict)

    @property
    def manager(self) -> str:
        return self.key.partition(":")[0]

    @property
    def name(self) -> str:
        return self.key.partition(":")[2]


@dataclass
class ExpectedState:
    prefix: str
    platform: str
    python: str
    lock_digest: str
    packages: dict[str, PackageState] = field(default_factory=dict)

    def owners(self) -> dict[str, str]:
        """Relative path -> the key of the package that puts it there."""
        return {path: key for key, package in self.packages.items() for path in package.files}

    def files(self) -> dict[str, FileState]:
        return {path: state for package in self.packages.values() for path, state in package.files.items()}

    def of(self, manager: str) -> dict[str, PackageState]:
        """name -> package, for one manager ("conda" or "pypi")."""
        return {p.name: p for p in self.packages.values() if p.manager == manager}

    def to_json(self) -> dict:
        return {"version": EXPECTED_VERSION, "prefix": self.prefix, "platform": self.platform, "python": self.python,
                "lock_digest": self.lock_digest,
                "packages": {key: {"identity": p.identity, "version": p.version,
                                   "files": {path: state.to_json() for path, state in sorted(p.files.items())}}
                             for key, p in sorted(self.packages.items())}}

    @classmethod
    def from_json(cls, data: dict) -> "ExpectedState":
        if data.get("version") != EXPECTED_VERSION:
            raise ValueError(f"expected-state version {data.get('version')!r}")
        packages = {key: PackageState(key, str(p["identity"]), str(p["version"]),
                                      {path: FileState.from_json(s) for path, s in p["files"].items()})
                    for key, p in data["packages"].items()}
        return cls(str(data["prefix"]), str(data["platform"]), str(data["python"]), str(data["lock_digest"]),
                   packages)


def path_of(prefix: Path) -> Path:
    return prefix / STATE_DIR / EXPECTED


def read(prefix: Path) -> ExpectedState | None:
    """The prefix's recorded expected state, or None (never installed, or unreadable)."""
    try:
        return ExpectedState.from_json(json.loads(path_of(prefix).read_text()))
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None


def write(prefix: Path, state: ExpectedState) -> None:
    """Atomic and deterministic (sorted keys; compact: ~30,000 entries go through the C encoder)."""
    from .state import atomic_write

    atomic_write(path_of(prefix), json.dumps(state.to_json(), sort_keys=True, separators=(",", ":")) + "\n")


def remove(prefix: Path) -> None:
    path_of(prefix).unlink(missing_ok=True)


def site_packages(python: str) -> str:
    """``lib/python3.11/site-packages`` for Python ``3.11.7`` (the prefix-relative path)."""
    return f"lib/python{'.'.join(python.split('.')[:2])}/site-packages"


def file_state_of(path: Path) -> FileState:
    """What ``path`` holds now (for the few files an engine writes that no artifact contains)."""
    import stat

    from .tree import sha256_file

    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        return FileState("link", target=os.readlink(path))
    return FileState("file", stat.S_IMODE(info.st_mode), info.st_size, sha256_file(path))

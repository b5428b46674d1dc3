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
_OCTAL = {0o644: "644", 0o755: "755"}  # ~30,000 modes, nearly all one of these


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
        return ["f", _OCTAL.get(self.mode) or format(self.mode, "o"), self.size, self.sha256]

    @classmethod
    def from_json(cls, data: list) -> "FileState":
        if data[0] == "l":
            return cls("link", target=str(data[1]))
        return cls("file", int(data[1], 8), int(data[2]), str(data[3]))


class PackageState:
    """One package's files. Read from expected.json, they stay in their JSON form until something
    asks for them: an install that keeps most packages reads and writes them back as they were."""

    __slots__ = ("key", "identity", "version", "_files", "_encoded")

    def __init__(self, key: str, identity: str, version: str, files: dict[str, FileState] | None = None, *,
                 encoded: dict[str, list] | None = None) -> None:
        self.key = key  # "conda:six", "pypi:six", "materialize"
        self.identity = identity  # conda archive sha256, wheel sha256, git URL, "source:<digest>" of a local project
        self.version = version
        self._files = files if files is not None or encoded is not None else {}
        self._encoded = encoded

    @property
    def files(self) -> dict[str, FileState]:
        if self._files is None:
            try:
                self._files = {path: FileState.from_json(s) for path, s in self._encoded.items()}
            except (ValueError, TypeError, LookupError) as err:
                from ..errors import IntegrityError

                raise IntegrityError(f"the expected state of {self.key} is malformed ({err})",
                                     hint="run 'materialize install --repair'") from err
        return self._files

    def paths(self):
        """The relative paths of its files (without decoding them)."""
        return self._files.keys() if self._files is not None else self._encoded.keys()

    def files_json(self) -> dict[str, list]:
        if self._files is None:
            return self._encoded
        return {path: state.to_json() for path, state in self._files.items()}

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, PackageState) and (self.key, self.identity, self.version) ==
                (other.key, other.identity, other.version) and self.files == other.files)

    def __repr__(self) -> str:
        return f"PackageState({self.key!r}, {self.identity!r}, {self.version!r}, {len(self.paths())} files)"

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
        return {path: key for key, package in self.packages.items() for path in package.paths()}

    def files(self) -> dict[str, FileState]:
        return {path: state for package in self.packages.values() for path, state in package.files.items()}

    def of(self, manager: str) -> dict[str, PackageState]:
        """name -> package, for one manager ("conda" or "pypi")."""
        return {p.name: p for p in self.packages.values() if p.manager == manager}

    def to_json(self) -> dict:
        return {"version": EXPECTED_VERSION, "prefix": self.prefix, "platform": self.platform, "python": self.python,
                "lock_digest": self.lock_digest,
                "packages": {key: {"identity": p.identity, "version": p.version, "files": p.files_json()}
                             for key, p in self.packages.items()}}  # sorted as they are written

    @classmethod
    def from_json(cls, data: dict) -> "ExpectedState":
        if data.get("version") != EXPECTED_VERSION:
            raise ValueError(f"expected-state version {data.get('version')!r}")
        packages = {key: PackageState(key, str(p["identity"]), str(p["version"]), encoded=_checked(p["files"]))
                    for key, p in data["packages"].items()}
        return cls(str(data["prefix"]), str(data["platform"]), str(data["python"]), str(data["lock_digest"]),
                   packages)


def _checked(files: object) -> dict[str, list]:
    """A package's encoded files (each is checked when decoded: `PackageState.files`)."""
    if not isinstance(files, dict):
        raise ValueError("malformed files")
    return files


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

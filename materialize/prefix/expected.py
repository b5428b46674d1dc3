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
from typing import NamedTuple

STATE_DIR = ".materialize"
EXPECTED = "expected.json"
EXPECTED_VERSION = 1
OWN = "materialize"
_OCTAL = {0o644: "644", 0o755: "755"}  # ~30,000 modes, nearly all one of these


class FileState(NamedTuple):  # a tuple: ~30,000 made per install, 2.4x faster than a frozen dataclass
    kind: str  # "file" | "link"
    mode: int = 0o644  # permission bits (files)
    size: int = 0
    sha256: str = ""
    target: str = ""  # links

    def to_json(self) -> list:
        if self.kind == "link":
            return ["l", self.target]
        return file_json(self.mode, self.size, self.sha256)

    @classmethod
    def from_json(cls, data: list) -> "FileState":
        if data[0] == "l":
            return cls("link", target=str(data[1]))
        return cls("file", int(data[1], 8), int(data[2]), str(data[3]))


def file_json(mode: int, size: int, sha256: str) -> list:
    """A file as expected.json holds it, made without a FileState: an install's ~30,000 new entries
    go straight to the encoder (``PackageState(..., encoded=...)``)."""
    return ["f", _OCTAL.get(mode) or format(mode, "o"), size, sha256]


class PackageState:
    """One package's files. Read from expected.json, a package is its line of the file until
    something asks for its files (identity and version are read from the line's end): an install
    that keeps most packages parses little of the file and writes their lines back as they were,
    encoding only what it installed. A line damaged inside its files is found when they are read
    (verify: exit 6; an install that checks every file reinstalls the package; ``--repair``)."""

    __slots__ = ("key", "identity", "version", "_files", "_encoded", "line", "_start")

    def __init__(self, key: str, identity: str, version: str, files: dict[str, FileState] | None = None, *,
                 encoded: dict[str, list] | None = None) -> None:
        self.key = key  # "conda:six", "pypi:six", "materialize"
        self.identity = identity  # conda archive sha256, wheel sha256, git URL, "source:<digest>" of a local project
        self.version = version
        self._files = files if files is not None or encoded is not None else {}
        self._encoded = encoded
        self.line: str | None = None  # its line of expected.json, as read (from_line)
        self._start = 0  # where the line's value starts

    @classmethod
    def from_line(cls, key: str, line: str, start: int) -> "PackageState":
        """From ``"key":{"files":{...},"identity":"...","version":"..."}`` (``start``: where ``{`` is).
        The last ``,"identity":`` is the key: "identity" sorts after "files", and a quote inside an
        encoded string is escaped. ValueError when the line is not like that."""
        at = line.rfind(',"identity":')
        if (at < 0 or not line.startswith('{"files":{', start) or not line.endswith("}")
                or line.count('"files":{') != 1 or line.count(',"identity":"') != 1):
            raise ValueError("not a package line")  # e.g. two packages on one line: read as one document
        tail = json.loads("{" + line[at + 1:])
        if set(tail) != {"identity", "version"} or not all(isinstance(v, str) for v in tail.values()):
            raise ValueError("not a package line")
        package = cls(key, tail["identity"], tail["version"], encoded=None)
        package._files, package.line, package._start = None, line, start
        return package

    def _encoded_files(self) -> dict[str, list]:
        if self._encoded is None:
            try:
                files = json.loads(self.line[self._start:])["files"]
                if not isinstance(files, dict):
                    raise TypeError("files is not a mapping")
            except (ValueError, TypeError, LookupError) as err:
                raise self._malformed(err) from err
            self._encoded = files
        return self._encoded

    def _malformed(self, err: Exception):
        from ..errors import IntegrityError

        return IntegrityError(f"the expected state of {self.key} is malformed ({err})",
                              hint="run 'materialize install --repair'")

    @property
    def files(self) -> dict[str, FileState]:
        if self._files is None:
            try:
                self._files = {path: FileState.from_json(s) for path, s in self._encoded_files().items()}
            except (ValueError, TypeError, LookupError) as err:
                raise self._malformed(err) from err
        return self._files

    def paths(self):
        """The relative paths of its files (without decoding them)."""
        return self._files.keys() if self._files is not None else self._encoded_files().keys()

    def files_json(self) -> dict[str, list]:
        if self._files is None:
            return self._encoded_files()
        return {path: state.to_json() for path, state in self._files.items()}

    def encoded_line(self) -> str:
        """``"key":{"files":...,"identity":...,"version":...}``, as the JSON encoder writes it in a
        sorted, compact document."""
        if self.line is not None:
            return self.line
        return json.dumps(self.key) + ":" + json.dumps(
            {"files": self.files_json(), "identity": self.identity, "version": self.version},
            sort_keys=True, separators=(",", ":"))

    def encode(self) -> "PackageState":
        """Encode its line now (while an engine works), so that writing the expected state later
        only joins lines; its files must not change afterwards."""
        self.line = self.encoded_line()
        self._start = len(json.dumps(self.key)) + 1
        return self

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

    def header(self) -> dict:
        """Everything but the packages (``"packages": None``)."""
        return {"version": EXPECTED_VERSION, "prefix": self.prefix, "platform": self.platform, "python": self.python,
                "lock_digest": self.lock_digest, "packages": None}

    def to_json(self) -> dict:
        return {**self.header(),
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
        text = path_of(prefix).read_text()
        return _from_lines(text) or ExpectedState.from_json(json.loads(text))
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None


def write(prefix: Path, state: ExpectedState) -> None:
    """Atomic and deterministic: the compact, key-sorted JSON encoding (~30,000 entries through the
    C encoder), with a line break before each package and after the last one. A package read from
    the file and kept is written back as its line, not encoded again."""
    from .state import atomic_write

    head = json.dumps(state.header(), sort_keys=True, separators=(",", ":"))
    # the first '"packages":null' is the key: no encoded string holds an unescaped quote
    before, key, after = head.partition('"packages":null')
    lines = ",\n".join(p.encoded_line() for _, p in sorted(state.packages.items()))
    atomic_write(path_of(prefix), "".join((before, '"packages":{\n', lines, "\n}", after, "\n")))


def _from_lines(text: str) -> ExpectedState | None:
    """The state from a file in write()'s layout, its packages left as their lines; None when the
    file is not in that layout (JSON strings hold no raw line breaks: every line break is write()'s)."""
    lines = text.split("\n")
    if len(lines) < 4 or not lines[0].endswith('"packages":{') or not lines[-2].startswith("},") or lines[-1]:
        return None
    decoder = json.JSONDecoder()
    try:
        state = ExpectedState.from_json(json.loads(lines[0] + lines[-2]))  # the header, with "packages":{}
        for line in lines[1:-2]:
            line = line[:-1] if line.endswith(",") else line
            if not line and len(lines) == 4:
                break  # no packages
            key, end = decoder.raw_decode(line)
            if not isinstance(key, str) or line[end:end + 1] != ":":
                return None
            state.packages[key] = PackageState.from_line(key, line, end + 1)
    except (ValueError, KeyError, TypeError):
        return None  # read() tries the whole file as one JSON document
    return state


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

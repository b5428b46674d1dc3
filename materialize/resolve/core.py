"""The serving runtime's core packages, pre-locked: one PEP 751 file per core set, Python minor and platform.

``lockfiles/<set>/pylock.cp3XY-<platform>.toml`` (shipped inside the package as
``materialize/lockfiles``) is written by ``scripts/lock-core`` from the open ranges of
``inputs/core_sets/<set>.txt``. ``materialize lock`` takes the file for the locked Python and platform:
its versions become exact constraints of the PyPI resolve, and the artifacts the index then serves
for them must have the sha256 the file lists. A set without a folder of locks (``core-requirements``,
a set of your own) is resolved from its open ranges, as before.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path

from packaging.specifiers import InvalidSpecifier
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ..errors import InputError, IntegrityError, ResolutionError
from ..settings import Settings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# `materialize/lockfiles` is a link to the repository's top-level `lockfiles/`; a wheel holds a copy.
_PACKAGED = Path(__file__).resolve().parent.parent / "lockfiles"
BUILTIN = _PACKAGED if _PACKAGED.is_dir() else Path(__file__).resolve().parents[2] / "lockfiles"
PYTHONS = ("3.10", "3.11", "3.12", "3.13")
PLATFORMS = ("linux-64", "linux-aarch64", "osx-arm64")
REFRESH_HINT = ("core locks are refreshed by scripts/lock-core in materialize's source (needs the network); "
                "the core-locks setting may name a folder of your own")


@dataclass(frozen=True)
class CorePin:
    name: str  # canonical
    version: str
    files: dict[str, str] = field(hash=False)  # artifact file name -> sha256


@dataclass(frozen=True)
class CoreLock:
    path: Path
    core_set: str
    python: str  # minor, e.g. "3.11"
    platform: str
    target: str  # uv's --python-platform it was resolved for
    requirements: tuple[str, ...]
    pins: dict[str, CorePin] = field(hash=False)
    sha256: str = ""

    @property
    def label(self) -> str:
        return f"{self.core_set}/{self.path.name}"


@dataclass(frozen=True)
class CoreChoice:
    """The core lock a project gets for one Python and platform, or why it gets none."""

    lock: CoreLock | None
    why: str  # a sentence: which file, or why the open ranges are resolved
    warn: bool = False  # a named set with locks, but none fits: say so loudly


def file_name(python: str, platform: str) -> str:
    major, minor = python.split(".")[:2]
    return f"pylock.cp{major}{minor}-{platform}.toml"


def target_of(platform: str, glibc: str = "2.28", osx: str = "11.0") -> str:
    """What a resolve targets beyond the conda platform: uv's platform, and the macOS version."""
    from ..engines import wheel_tags

    target = wheel_tags.uv_platform(platform, glibc)
    return f"{target} (macOS {osx})" if platform.startswith("osx-") else target


def locks_root(settings: Settings) -> Path:
    value = settings["core-locks"]
    return Path(value) if value else BUILTIN


def read(path: Path) -> CoreLock:
    try:
        return parse(path.read_bytes(), path)
    except OSError as err:
        raise InputError(f"{path}: cannot read the core lock ({err.strerror})") from err


def parse(text: bytes, path: Path) -> CoreLock:
    try:
        data = tomllib.loads(text.decode("utf-8"))
        tool = data["tool"]["materialize"]
        pins = {}
        for package in data.get("packages", []):
            name = canonicalize_name(package["name"])
            artifacts = list(package.get("wheels", [])) + ([package["sdist"]] if "sdist" in package else [])
            files = {a["url"].rsplit("/", 1)[-1]: a["hashes"]["sha256"] for a in artifacts}
            if not files:
                raise ValueError(f"{name} has no artifact with a sha256")
            pins[name] = CorePin(name, str(package["version"]), files)
        return CoreLock(path, str(tool["core-set"]), str(tool["python"]), str(tool["platform"]), str(tool["target"]),
                        tuple(tool["requirements"]), pins, hashlib.sha256(text).hexdigest())
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError, AttributeError) as err:
        raise InputError(f"{path}: not a core lock ({type(err).__name__}: {err})", hint=REFRESH_HINT) from err


def requirement_lines(entries) -> tuple[str, ...]:
    """What a core lock records of the set it was made from, to tell when it no longer fits."""
    return tuple(("-c " if e.constraint else "") + e.text for e in entries)


def choose(core_name: str | None, requirements: tuple[str, ...], settings: Settings, python: str,
           platform: str) -> CoreChoice:
    if core_name is None:
        return CoreChoice(None, "core-requirements: resolved from their open ranges (no core lock)")
    root = locks_root(settings)
    folder = root / core_name
    if not folder.is_dir():
        return CoreChoice(None, f"core set {core_name!r} has no core locks in {root}: resolved from its open ranges")
    path = folder / file_name(python, platform)
    if not path.is_file():
        return CoreChoice(None, f"no core lock {core_name}/{path.name} for Python {_minor(python)} on {platform}: "
                                f"core set {core_name!r} resolved from its open ranges instead", warn=True)
    lock = read(path)
    if (lock.core_set, lock.python, lock.platform) != (core_name, _minor(python), platform):
        raise InputError(f"{path}: its [tool.materialize] table says core set {lock.core_set!r}, Python {lock.python}, "
                         f"{lock.platform}, not what its name says", hint=REFRESH_HINT)
    if lock.requirements != requirements:
        return CoreChoice(None, f"core lock {lock.label} was made from other requirements than core set "
                                f"{core_name!r} has now: resolved from its open ranges instead", warn=True)
    return CoreChoice(lock, f"core lock {lock.label}")


def _minor(python: str) -> str:
    return ".".join(python.split(".")[:2])


def conflict(lock: CoreLock, entry, described: str) -> ResolutionError | None:
    """A user requirement that the core lock's exact version cannot satisfy, naming both sides."""
    pin = lock.pins.get(entry.name or "")
    if pin is None:
        return None
    if entry.kind == "pep508":
        requirement = entry.requirement
        try:
            if requirement is None or requirement.specifier.contains(Version(pin.version), prereleases=True):
                return None
        except (InvalidSpecifier, InvalidVersion):
            return None
        what = f"conflicts with {pin.name} {pin.version}"
    else:
        what = f"would replace {pin.name} {pin.version}"
    return ResolutionError(f"pip requirement {described} {what}, pinned by the core lock {lock.label} "
                           f"(core set {lock.core_set!r}, Python {lock.python}, {lock.platform})",
                           hint=f"relax the requirement, or pick another core set; {REFRESH_HINT}")


def check_hashes(lock: CoreLock, pins, target: str) -> None:
    """The index must serve, for each core-locked version, a file the core lock lists, with its sha256.

    A project that targets something else than the core lock (another ``__glibc`` or ``__osx``) may
    get another wheel of the same version: then only the version is held."""
    for pin in pins:
        locked = lock.pins.get(pin.name)
        if locked is None or locked.version != pin.version or pin.kind == "vcs":
            continue
        filename = pin.url.rsplit("/", 1)[-1]
        expected = locked.files.get(filename)
        if expected is None and target != lock.target:
            continue
        if expected != pin.sha256:
            served = f"{filename} (sha256 {pin.sha256})"
            listed = f"sha256 {expected}" if expected else f"only {', '.join(sorted(locked.files))}"
            raise IntegrityError(f"core package {pin.name} {pin.version}: the index serves {served}, but the core "
                                 f"lock {lock.label} lists {listed}",
                                 hint="the index is not a faithful mirror of the one the core lock was made from; "
                                      + REFRESH_HINT)

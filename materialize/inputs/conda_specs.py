"""conda-packages.txt: the ``conda list --export`` format and any MatchSpec conda accepts.

Lines are ``[channel::]package[=version[=buildid]]`` or any other MatchSpec (``numpy>=1.20``,
``numpy 1.20.*``). ``#`` starts a comment; ``# platform: linux-64`` (the export header) is
remembered so that a lock for another platform can refuse it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..engines.conda import SpecError, parse_match_spec
from ..errors import InputError

FILENAME = "conda-packages.txt"
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
_BUILD = re.compile(r"^[A-Za-z0-9_.+*]+$")
_PLATFORM = re.compile(r"^#\s*platform\s*:\s*(\S+)\s*$")


@dataclass(frozen=True)
class CondaSpec:
    """One requested conda package, as written and as understood."""

    text: str  # the spec as written, comment removed
    name: str  # normalized package name
    channel: str | None  # the channel named in ``channel::pkg``, if any
    spec: str  # canonical MatchSpec without the channel
    line: int
    source: str = FILENAME

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"


@dataclass(frozen=True)
class CondaFile:
    specs: tuple[CondaSpec, ...]
    platform: str | None  # from a ``# platform:`` header
    platform_line: int | None = None


def parse_file(path: Path) -> CondaFile:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise InputError.at(path, None, "not UTF-8 text") from err
    return parse_text(text, path.name)


def parse_text(text: str, source: str = FILENAME) -> CondaFile:
    specs: list[CondaSpec] = []
    platform = platform_line = None
    seen: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        header = _PLATFORM.match(raw.strip())
        if header:
            platform, platform_line = header.group(1), number
            continue
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        spec = parse_spec(line, number, source)
        if spec.name in seen:
            raise InputError.at(source, number, f"{spec.name!r} is already requested on line {seen[spec.name]}")
        seen[spec.name] = number
        specs.append(spec)
    return CondaFile(tuple(specs), platform, platform_line)


def parse_spec(line: str, number: int, source: str = FILENAME) -> CondaSpec:
    """Parse one spec with rattler's lenient MatchSpec, then refuse what conda would refuse."""
    channel, _, rest = line.rpartition("::") if "::" in line else (None, "", line)
    if channel is not None and not channel.strip():
        raise InputError.at(source, number, f"{line!r}: empty channel before '::'")
    if not rest.strip():
        raise InputError.at(source, number, f"{line!r}: missing package name")
    try:
        parsed = parse_match_spec(rest.strip())
    except SpecError as err:
        raise InputError.at(source, number, f"{line!r}: {err}") from err
    if not _NAME.match(parsed.name):
        raise InputError.at(source, number, f"{line!r}: {parsed.name!r} is not a valid package name")
    if parsed.build is not None and not _BUILD.match(parsed.build):
        raise InputError.at(source, number, f"{line!r}: invalid build string {parsed.build!r}")
    return CondaSpec(line, parsed.name, channel.strip() if channel else None, parsed.canonical, number, source)

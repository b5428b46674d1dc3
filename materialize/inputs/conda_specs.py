"""conda-packages.txt: the ``conda list --export`` format and any MatchSpec conda accepts.

Lines are ``[channel::]package[=version[=buildid]]`` or any other MatchSpec (``numpy>=1.20``,
``numpy 1.20.*``, ``pkg[channel=conda-forge]``). ``#`` starts a comment; ``# platform: linux-64``
(the export header) is remembered so that a lock for another platform can refuse it. A channel
may carry a subdir (``conda-forge/linux-64::numpy``) and may be a local folder (``./chan::pkg``,
relative to the project): a path never becomes a URL on a public host.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from .. import files
from ..engines.conda import SpecError, parse_match_spec
from ..errors import InputError
from ..platforms import KNOWN

FILENAME = "conda-packages.txt"
MAX_SPEC = 16 * 1024  # no package spec is this long; rattler takes ~100 times a spec's size to parse it
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
_BUILD = re.compile(r"^[A-Za-z0-9_.+*]+$")
_PLATFORM = re.compile(r"^#\s*platform\s*:\s*(\S+)\s*$")
_BRACKET_CHANNEL = re.compile(r"""(?P<sep>^|,)\s*channel\s*=\s*(?P<q>["']?)(?P<channel>[^,"'\]]+)(?P=q)\s*(?=,|$)""")
_SUBDIRS = (*KNOWN, "noarch", "linux-32", "linux-armv6l", "linux-armv7l", "linux-riscv64", "osx-32", "win-32",
            "zos-z", "wasi-wasm32", "emscripten-wasm32")


@dataclass(frozen=True)
class CondaSpec:
    """One requested conda package, as written and as understood."""

    text: str  # the spec as written, comment removed
    name: str  # normalized package name
    channel: str | None  # the channel named in ``channel::pkg`` (a local folder as a file:// URL), if any
    spec: str  # canonical MatchSpec without the channel
    line: int
    source: str = FILENAME
    subdir: str | None = None  # from ``channel/subdir::pkg``

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"


@dataclass(frozen=True)
class CondaFile:
    specs: tuple[CondaSpec, ...]
    platform: str | None  # from a ``# platform:`` header
    platform_line: int | None = None


def parse_file(path: Path, project: Path | None = None) -> CondaFile:
    return parse_text(files.read_text(path, path.name), path.name, project or path.parent)


def parse_text(text: str, source: str = FILENAME, project: Path | None = None) -> CondaFile:
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
        spec = parse_spec(line, number, source, project)
        if spec.name in seen:
            raise InputError.at(source, number, f"{spec.name!r} is already requested on line {seen[spec.name]}")
        seen[spec.name] = number
        specs.append(spec)
    return CondaFile(tuple(specs), platform, platform_line)


def parse_spec(line: str, number: int, source: str = FILENAME, project: Path | None = None) -> CondaSpec:
    """Parse one spec with rattler's lenient MatchSpec, then refuse what conda would refuse."""
    shown = _short(line)
    if len(line) > MAX_SPEC:
        raise InputError.at(source, number, f"{shown}: a spec longer than {MAX_SPEC // 1024} KiB")
    if line.strip() == "@EXPLICIT" or "://" in line.split("::", 1)[0] and "::" not in line:
        raise InputError.at(source, number, f"{shown}: this is the @EXPLICIT format (`conda list --explicit`): "
                            "exact package URLs for one platform, with nothing left to solve; materialize "
                            "locks specs for every platform", hint="write the specs with `conda list --export` "
                            "or `conda env export --from-history`, one per line")
    line = _hoist_bracket_channel(line, number, source)
    channel, _, rest = line.rpartition("::") if "::" in line else (None, "", line)
    if channel is not None and not channel.strip():
        raise InputError.at(source, number, f"{shown}: empty channel before '::'")
    if not rest.strip():
        raise InputError.at(source, number, f"{shown}: missing package name")
    try:
        parsed = parse_match_spec(rest.strip())
    except SpecError as err:
        raise InputError.at(source, number, f"{shown}: {err}") from err
    if not _NAME.match(parsed.name):
        raise InputError.at(source, number, f"{shown}: {parsed.name!r} is not a valid package name")
    if parsed.build is not None and not _BUILD.match(parsed.build):
        raise InputError.at(source, number, f"{shown}: invalid build string {parsed.build!r}")
    if parsed.channel:
        raise InputError.at(source, number, f"{shown}: a channel in brackets and before '::' at once")
    channel, subdir = _channel_and_subdir(channel.strip(), project) if channel else (None, None)
    return CondaSpec(line, parsed.name, channel, parsed.canonical, number, source, subdir)


def _hoist_bracket_channel(line: str, number: int, source: str) -> str:
    """``pkg[channel=X, build=Y]`` -> ``X::pkg[build=Y]``, so that one channel check sees both forms."""
    open_at = line.find("[")
    if open_at < 0 or not line.rstrip().endswith("]"):
        return line
    inside = line[open_at + 1:line.rstrip().rfind("]")]
    found = _BRACKET_CHANNEL.search(inside)
    if found is None:
        return line
    if "::" in line[:open_at]:
        raise InputError.at(source, number, f"{_short(line)}: a channel in brackets and before '::' at once")
    rest = (inside[:found.start()] + inside[found.end():]).strip(" ,")
    head = line[:open_at].strip()
    return f"{found.group('channel').strip()}::{head}[{rest}]" if rest else f"{found.group('channel').strip()}::{head}"


def _channel_and_subdir(channel: str, project: Path | None) -> tuple[str, str | None]:
    """``conda-forge/linux-64`` -> (``conda-forge``, ``linux-64``); a local folder becomes a file:// URL."""
    subdir = None
    head, slash, last = channel.rstrip("/").rpartition("/")
    if slash and last in _SUBDIRS and head not in ("", ".", "..", "~"):
        channel, subdir = head, last
    if is_local_path(channel):
        folder = Path(os.path.expanduser(channel))
        channel = files.resolve(folder if folder.is_absolute() else (project or Path.cwd()) / folder,
                                f"channel {channel[:80]!r}").as_uri()
    return channel, subdir


def is_local_path(channel: str) -> bool:
    """A channel written as a folder: ``/abs``, ``./rel``, ``../rel``, ``~/chan`` (conda reads these locally)."""
    return channel in (".", "..", "~") or channel.startswith(("/", "./", "../", "~/"))


def _short(line: str, limit: int = 120) -> str:
    return repr(line if len(line) <= limit else line[:limit] + "...")

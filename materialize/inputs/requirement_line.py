"""One logical requirements.txt line, split and classified as pip does.

pip (``req_file.break_args_options``) splits a line at the first space-separated token that
starts with ``-``: what comes before is the requirement, the rest are options, split with shlex
and parsed with optparse. The requirement is then a URL, a local path (a directory or an archive
such as a ``.whl``), or a PEP 508 string (``req_constructors.parse_req_from_line``). This module
does the same with the same option table, and keeps ``${VAR}`` tokens as written.
"""

from __future__ import annotations

import functools
import optparse
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from .. import files
from ..errors import InputError
from .variables import VAR

VCS_SCHEMES = ("git+", "hg+", "svn+", "bzr+")
_URL_SCHEMES = ("http", "https", "file", "ftp", "git", "svn")
_ARCHIVES = (".whl", ".tar.bz2", ".tbz", ".tar.xz", ".txz", ".tlz", ".tar.lz", ".tar.lzma", ".zip", ".tar.gz",
             ".tgz", ".tar")
_EGG = re.compile(r"[#&]egg=([^&]*)")
# A name, optionally one comparison with a plain release number ("numpy", "numpy==1.26.4"): valid PEP
# 508 whatever follows, so read without packaging's parser (its import is ~30 ms of an install)
_PLAIN = re.compile(r"([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)(?:[ \t]*(?:==|!=|<=|>=|<|>)[ \t]*[0-9]+(?:\.[0-9]+)*)?",
                    re.ASCII)
STRONG_HASHES = ("sha256", "sha384", "sha512")
_HASH_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
MAX_WORDS = 10_000
NO_OP = ("require_hashes", "no_require_hashes")  # every locked artifact is hashed anyway
FLAGS = {"index_url": "--index-url", "extra_index_urls": "--extra-index-url", "no_index": "--no-index",
         "constraints": "-c", "requirements": "-r", "editables": "-e", "find_links": "--find-links",
         "format_control": "--no-binary/--only-binary", "prefer_binary": "--prefer-binary", "pre": "--pre",
         "all_releases": "--all-releases", "only_final": "--only-final", "trusted_hosts": "--trusted-host",
         "features_enabled": "--use-feature", "config_settings": "--config-settings"}


class LineError(ValueError):
    """What is wrong with the line; the caller adds ``file:line``."""


class _Parser(optparse.OptionParser):
    def error(self, msg: str):  # optparse would print and sys.exit
        raise LineError(msg)

    def exit(self, status: int = 0, msg: str | None = None):
        raise LineError(msg or "invalid options")


def _format_control(option, opt_str, value, parser) -> None:
    if value.startswith("-"):
        raise LineError(f"{opt_str} needs a value (package names, :all: or :none:)")
    parser.values.format_control.append((option.dest, value))


def _hash(option, opt_str, value, parser) -> None:
    algorithm, sep, digest = value.partition(":")
    if not sep:
        raise LineError(f"arguments to {opt_str} must be a hash name followed by a value, like "
                        f"{opt_str}=sha256:abcde...")
    if algorithm not in STRONG_HASHES:
        raise LineError(f"allowed hash algorithms for {opt_str} are {', '.join(STRONG_HASHES)} (not {algorithm!r})")
    if not re.fullmatch(r"[0-9a-fA-F]{%d}" % _HASH_LENGTHS[algorithm], digest):
        raise LineError(f"{opt_str}={algorithm}:{digest[:20]}...: a {algorithm} digest is "
                        f"{_HASH_LENGTHS[algorithm]} hex digits")
    parser.values.hashes.append(f"{algorithm}:{digest.lower()}")


@functools.lru_cache(maxsize=1)
def _parser() -> _Parser:
    """pip's SUPPORTED_OPTIONS + SUPPORTED_OPTIONS_REQ (req_file.py), same spellings, same dests.

    Built once: every parse starts from `_fresh_values` (pip builds a parser per line because
    optparse appends into shared default lists)."""
    parser = _Parser(add_help_option=False, usage=optparse.SUPPRESS_USAGE)
    add = parser.add_option
    add("-i", "--index-url", "--pypi-url", dest="index_url")
    add("--extra-index-url", dest="extra_index_urls", action="append")
    add("--no-index", action="store_true", default=False)
    add("-c", "--constraint", dest="constraints", action="append")
    add("-r", "--requirement", dest="requirements", action="append")
    add("-e", "--editable", dest="editables", action="append")
    add("-f", "--find-links", dest="find_links", action="append")
    for flag in ("--no-binary", "--only-binary"):
        add(flag, dest=flag[2:].replace("-", "_"), action="callback", callback=_format_control, type="str")
    add("--prefer-binary", action="store_true", default=False)
    add("--require-hashes", action="store_true", default=False)
    add("--no-require-hashes", action="store_true", default=False)
    add("--pre", action="store_true", default=False)
    add("--all-releases", dest="all_releases", action="append")
    add("--only-final", dest="only_final", action="append")
    add("--trusted-host", dest="trusted_hosts", action="append")
    add("--use-feature", dest="features_enabled", action="append")
    add("--hash", dest="hashes", action="callback", callback=_hash, type="str")
    add("-C", "--config-settings", dest="config_settings", action="append")
    return parser


_LISTS = ("extra_index_urls", "constraints", "requirements", "editables", "find_links", "all_releases",
          "only_final", "trusted_hosts", "features_enabled", "config_settings", "format_control", "hashes")


def _fresh_values() -> optparse.Values:
    values = optparse.Values(_parser().get_default_values().__dict__)
    for name in _LISTS:
        setattr(values, name, [])
    return values


def split(line: str) -> tuple[str, optparse.Values]:
    """(requirement part, parsed options); raises LineError."""
    tokens = line.split(" ")
    index = next((i for i, token in enumerate(tokens) if token.startswith("-")), len(tokens))
    args, options = " ".join(tokens[:index]), " ".join(tokens[index:])
    if not any(c in options for c in "'\"\\"):  # what shlex would do, without its character-at-a-time loop
        words = [word for word in re.split(r"[ \t\r\n]+", options) if word]
    else:
        try:
            words = shlex.split(options)
        except ValueError as err:
            raise LineError(f"cannot split the options {_short(options)!r} ({err})") from err
    if len(words) > MAX_WORDS:  # optparse takes each word off the front of a list: quadratic in their number
        raise LineError(f"{len(words)} options and values on one line; materialize reads at most {MAX_WORDS}")
    values, extra = _parser().parse_args(words, _fresh_values())
    if extra:
        raise LineError(f"{_short(' '.join(extra))!r} after the options is neither an option nor its value")
    return args, values


@dataclass(frozen=True)
class Parsed:
    """The requirement part of a line, classified."""

    kind: str  # "pep508" | "url" | "vcs" | "path"
    name: str | None  # canonical
    location: str = ""  # the URL or path as written (${VAR} kept), without extras and markers
    extras: tuple[str, ...] = ()
    marker: str | None = None


def classify(text: str, base: Path) -> Parsed:
    """``text`` is the requirement as written; relative paths start at ``base``."""
    probe = VAR.sub("x", text)
    if _is_url(probe):
        return _url_or_vcs(text, "; ")
    if "@" in probe.split(";", 1)[0] and not _looks_like_path(probe.split("@", 1)[0]):
        return _pep508(text)  # "name @ url"
    marker = None
    head = text
    if ";" in text:
        head, marker = text.split(";", 1)
        marker = _marker(marker.strip())
    head = head.strip()
    path, extras = _strip_extras(head)
    if _looks_like_path(head) or path.lower().endswith(_ARCHIVES):
        return _path(path, extras, marker, base)
    return _pep508(text)


def _url_or_vcs(text: str, marker_sep: str) -> Parsed:
    marker = None
    if marker_sep in text:
        text, marker = text.split(marker_sep, 1)
        marker = _marker(marker.strip())
    url = text.strip()
    check_url(url)
    kind = "vcs" if url.lower().startswith(VCS_SCHEMES) else "url"
    name = _egg(url)
    if name is None and kind == "url" and urlsplit(VAR.sub("x", url)).path.endswith(".whl"):
        name = _wheel_name(urlsplit(url).path.rsplit("/", 1)[-1])
    if name is None and kind == "vcs":
        raise LineError(f"{_short(url)!r}: a VCS requirement needs '#egg=name' or 'name @ url'")
    return Parsed(kind, name, url, (), marker)


def _pep508(text: str) -> Parsed:
    plain = _PLAIN.fullmatch(text)
    if plain:
        return Parsed("pep508", canonicalize_name(plain.group(1)))
    from packaging.requirements import InvalidRequirement, Requirement

    probe = VAR.sub("x", text)
    try:
        try:
            parsed = Requirement(text)  # ${VAR} tokens inside a URL are kept as written
        except InvalidRequirement:
            if probe == text:
                raise
            parsed = Requirement(probe)
    except InvalidRequirement as err:
        hint = " (= is not a valid operator; did you mean == ?)" if re.search(r"[^=<>!~]=[^=]", probe) else ""
        raise LineError(f"{_short(text)!r} is not a valid requirement ({str(err).splitlines()[0]}){hint}") from err
    if os.sep in parsed.name:
        raise LineError(f"{_short(text)!r} looks like a path, but it is not one")
    if parsed.url is None:
        return Parsed("pep508", canonicalize_name(parsed.name), "", _canonical_extras(parsed),
                            None if parsed.marker is None else str(parsed.marker))
    check_url(parsed.url)
    kind = "vcs" if parsed.url.lower().startswith(VCS_SCHEMES) else "url"
    return Parsed(kind, canonicalize_name(parsed.name), parsed.url, _canonical_extras(parsed),
                        None if parsed.marker is None else str(parsed.marker))


def _canonical_extras(parsed) -> tuple[str, ...]:
    return tuple(sorted({canonicalize_name(e) for e in parsed.extras}))


def _path(path: str, extras: str, marker: str | None, base: Path) -> Parsed:
    expanded = VAR.sub("x", path)
    if len(expanded) > 4096:  # PATH_MAX; pathlib would make a million parts of '../../..' first
        raise LineError(f"{_short(path)!r}: a path of {len(expanded)} characters is longer than any filesystem allows")
    target = Path(base) / expanded
    shown = f"{_short(path)!r}"
    try:
        kind = files.probe(target, shown)
        absolute = files.resolve(target, shown)
        installable = kind == "directory" and any(files.probe(target / m, shown) == "file"
                                                  for m in ("pyproject.toml", "setup.py"))
    except InputError as err:
        raise LineError(err.message) from err
    archive = expanded.lower().endswith(_ARCHIVES)
    if kind == "missing":
        raise LineError(f"{shown}: no such {'file' if archive else 'directory'} {_short(str(absolute))}")
    if kind != "directory" and not archive:
        raise LineError(f"{shown} is a file but not a package archive (.whl, .tar.gz, .zip, ...)")
    if kind == "directory" and not installable:
        raise LineError(f"{shown}: {_short(str(absolute))} is not installable: neither 'setup.py' nor "
                        "'pyproject.toml' found")
    name = _wheel_name(Path(expanded).name) if expanded.lower().endswith(".whl") else None
    return Parsed("path", name, path, _extras(extras), marker)


def check_url(url: str) -> None:
    """A URL urllib (and so uv and our downloader) can read: valid IPv6 brackets, a port in range."""
    probe = VAR.sub("x", url)
    scheme, _, rest = probe.partition("+") if probe.lower().startswith(VCS_SCHEMES) else ("", "", probe)
    try:
        parts = urlsplit(rest)
        parts.port  # noqa: B018 (raises ValueError when out of range or not a number)
    except ValueError as err:
        raise LineError(f"{_short(url)!r} is not a valid URL ({err})") from err
    if any(c.isspace() for c in probe):
        raise LineError(f"{_short(url)!r} is not a valid URL (it contains white space)")
    if not parts.scheme or (parts.scheme != "file" and not parts.netloc):
        raise LineError(f"{_short(url)!r} is not a valid URL (no host)")


def _marker(text: str) -> str | None:
    if not text:
        return None
    from packaging.markers import InvalidMarker, Marker

    try:
        return str(Marker(VAR.sub("x", text)))
    except InvalidMarker as err:
        raise LineError(f"invalid environment marker {_short(text)!r} ({str(err).splitlines()[0]})") from err


def _strip_extras(text: str) -> tuple[str, str]:
    r"""pip's ``re.match(r"^(.+)(\[[^\]]+\])$", path)``, without its quadratic backtracking on ``[[[[``."""
    if not text.endswith("]"):
        return text, ""
    at = len(text) - 1
    while True:
        at = text.rfind("[", 0, at)
        inner = text[at + 1:-1]
        if at < 1 or "]" in inner:
            return text, ""
        if inner:
            return text[:at].rstrip(), text[at:]


def _extras(text: str) -> tuple[str, ...]:
    if not text:
        return ()
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        return tuple(sorted(canonicalize_name(e) for e in Requirement("placeholder" + text.lower()).extras))
    except InvalidRequirement as err:
        raise LineError(f"invalid extras {_short(text)!r}") from err


def _egg(url: str) -> str | None:
    found = _EGG.search(url)
    if not found or not found.group(1):
        return None
    name = found.group(1)
    if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?", name):
        raise LineError(f"{_short(url)!r}: #egg={name!r} is not a project name")
    return canonicalize_name(name)


def _wheel_name(filename: str) -> str:
    try:
        return canonicalize_name(parse_wheel_filename(filename)[0])
    except InvalidWheelFilename as err:
        raise LineError(f"{_short(filename)!r} is not a valid wheel file name ({err})") from err


def _is_url(text: str) -> bool:
    scheme = text.split(":", 1)[0].lower() if ":" in text else ""
    return scheme in _URL_SCHEMES or scheme.startswith(VCS_SCHEMES)


def _looks_like_path(text: str) -> bool:
    return os.sep in text or (os.altsep is not None and os.altsep in text) or text.startswith(".")


def _short(text: str, limit: int = 120) -> str:
    """pip's ``re.match(r"^(.+)(\\[[^\\]]+\\])$", path)``, without its quadratic backtracking on ``[[[[``."""
    return text if len(text) <= limit else text[:limit] + "..."

"""requirements.txt as pip reads it, every entry remembering its ``file:line``.

uv does the resolving; this module only reads the files so that errors and conflicts can name
the line they come from, ``${VAR}`` tokens and credentials can be kept out of uv's argv and
output, and the local project (``.``) can be found and digested. Files are decoded and lines
joined, stripped of comments and split into requirement and options exactly as pip's
``req_file.py`` does (`requirement_line`); the README lists where materialize deliberately differs.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .. import files
from ..errors import InputError
from . import requirement_line
from .requirement_line import LineError
from .variables import VAR as _VAR

FILENAME = "requirements.txt"
_USERINFO = re.compile(r"://([^/@\s]+)@")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


@dataclass(frozen=True)
class Entry:
    """One requirement line."""

    text: str  # the requirement as written (continuations joined, comment and options removed)
    name: str | None  # canonical distribution name, when known before resolving
    kind: str  # "pep508" | "vcs" | "url" | "path"
    source: str  # file name, relative to the project
    line: int
    constraint: bool = False  # from a -c file
    hashes: tuple[str, ...] = ()  # "algorithm:hexdigest", from --hash options
    variables: tuple[str, ...] = ()  # ${VAR} names used on this line
    base: str = ""  # folder that relative paths are relative to (the project, or a core file's folder)
    location: str = ""  # url/vcs/path: the URL or path as written, without extras and marker
    extras: tuple[str, ...] = ()
    marker: str | None = None

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"

    @property
    def secret_variables(self) -> tuple[str, ...]:
        """${VAR}s inside a URL's userinfo (``https://${USER}:${TOKEN}@host``): credentials."""
        return tuple(name for userinfo in _USERINFO.findall(self.text) for name in _VAR.findall(userinfo))

    @property
    def requirement(self):
        """The line as a ``packaging`` Requirement (pep508 lines only)."""
        from packaging.requirements import Requirement

        return Requirement(self.text) if self.kind == "pep508" else None

    @property
    def path(self) -> Path | None:
        """The local directory or archive of a ``path`` entry."""
        return (Path(self.base) / self.location).resolve() if self.kind == "path" else None


@dataclass
class RequirementsSet:
    entries: list[Entry] = field(default_factory=list)
    options: list[tuple[str, str, str]] = field(default_factory=list)  # (option, value, where), in file order
    files: list[Path] = field(default_factory=list)  # every file read, for the input digest

    def option_values(self, option: str) -> list[str]:
        return [value for name, value, _ in self.options if name == option]


def parse_file(path: Path, project: Path, *, constraint: bool = False, into: RequirementsSet | None = None,
               _stack: tuple[Path, ...] = (), _included_at: str | None = None) -> RequirementsSet:
    """Read ``path`` and its -r/-c includes; ``project`` is where relative paths and names start."""
    result = into if into is not None else RequirementsSet()
    source = _rel(Path(os.path.abspath(path)), project)  # as the user named it, not where its links lead
    path = files.resolve(path, f"{_included_at}: {files.short(source)}" if _included_at else files.short(source))
    if path in _stack:
        raise InputError(f"{_included_at}: {source} includes itself (through {_rel(_stack[-1], project)})")
    data = files.read_bytes(path, f"{_included_at}: {source}" if _included_at else source)
    result.files.append(path)
    text = files.decode(data, source, pip_rules=True)
    for number, line in logical_lines(text):
        _parse_line(line, number, path, source, project, constraint, result, _stack + (path,))
    return result


def parse_lines(lines: list[str], source: str, project: Path) -> RequirementsSet:
    """Requirements given inline (a settings list): each string is one line."""
    result = RequirementsSet()
    for number, line in enumerate(lines, start=1):
        for _, logical in logical_lines(line):
            _parse_line(logical, number, project / source, source, project, False, result, ())
    return result


def logical_lines(text: str):
    """pip's ``preprocess``: join ``\\`` continuations (not after a comment), then drop comments and
    blank lines, yielding (first line number, text)."""
    buffer: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        comment = raw.lstrip().startswith("#")  # pip's COMMENT_RE.match
        if raw.endswith("\\") and not comment:
            if not buffer:
                start = number
            buffer.append(raw.strip("\\"))
            continue
        joined, first = ("".join(buffer) + (" " + raw if comment else raw), start) if buffer else (raw, number)
        buffer = []
        stripped = _strip_comment(joined).strip()
        if stripped:
            yield first, stripped
    if buffer:
        stripped = _strip_comment("".join(buffer)).strip()
        if stripped:
            yield start, stripped


def _strip_comment(line: str) -> str:
    """pip's ``COMMENT_RE.sub("", line)``: a ``#`` at the start or after white space ends the line.
    (The regex backtracks quadratically on a long run of spaces; this does not.)"""
    at = line.find("#")
    while at > 0 and not line[at - 1].isspace():
        at = line.find("#", at + 1)
    return line if at < 0 else line[:at]


def _parse_line(line: str, number: int, path: Path, source: str, project: Path, constraint: bool,
                result: RequirementsSet, stack: tuple[Path, ...]) -> None:
    where = f"{source}:{number}"
    try:
        args, options = requirement_line.split(line)
        if args:
            result.entries.append(_entry(args, options, number, source, project, constraint))
            return
        _options(options, where, path, result)
    except LineError as err:
        raise InputError(f"{where}: {files.short(str(err), 300)}") from err
    for include, is_constraint in [(r, False) for r in options.requirements] + [(c, True) for c in options.constraints]:
        files.check_path_length(include, f"{where}: {files.short(include, 80)}")
        if _URL.match(include):
            raise InputError(f"{where}: {include!r}: requirements files over the network are not read; "
                             "download it into the project")
        parse_file(path.parent / include, project, constraint=constraint or is_constraint, into=result,
                   _stack=stack, _included_at=where)


def _options(options, where: str, path: Path, result: RequirementsSet) -> None:
    """An option line: what pip applies to its finder, in order, as (option, value, where)."""
    if options.editables:
        raise LineError(f"editable installs ('-e {options.editables[0]}') make no sense in an environment "
                        "mounted into containers; drop '-e' to install the package normally")
    unsupported = [requirement_line.FLAGS[name] for name in ("features_enabled", "config_settings")
                   if getattr(options, name)]
    unsupported += [f"--all-releases {v}" for v in options.all_releases if v != ":all:"]
    unsupported += [f"--only-final {v}" for v in options.only_final]
    if options.hashes:
        unsupported.append("--hash without a requirement")
    if unsupported:
        raise LineError(f"unsupported option {unsupported[0]} (see the README, 'requirements.txt')")
    add = result.options.append
    if options.index_url:
        add(("index-url", options.index_url, where))
    for url in options.extra_index_urls:
        add(("extra-index-url", url, where))
    for link in options.find_links:
        add(("find-links", _find_link(link, path), where))
    for host in options.trusted_hosts:
        add(("trusted-host", host, where))
    for dest, value in options.format_control:
        add((dest.replace("_", "-"), value, where))
    for flag in ("no_index", "pre", "prefer_binary"):
        if getattr(options, flag):
            add((flag.replace("_", "-"), "", where))
    if options.all_releases:
        add(("pre", "", where))


def _find_link(value: str, requirements_file: Path) -> str:
    """A local --find-links is relative to the file that names it (pip: when it exists there)."""
    if _URL.match(value) or _VAR.search(value):
        return value
    try:
        files.check_path_length(value, f"--find-links {value[:80]}")
        folder = requirements_file.parent / value
        if files.probe(folder, f"--find-links {value[:80]}") == "missing":
            raise LineError(f"--find-links {value}: no such directory {folder}")
        return str(files.resolve(folder, f"--find-links {value[:80]}"))
    except InputError as err:
        raise LineError(err.message) from err


def _entry(args: str, options, number: int, source: str, project: Path, constraint: bool) -> Entry:
    misplaced = [dest for dest, value in vars(options).items()
                 if value and dest not in ("hashes", *requirement_line.NO_OP)]
    if misplaced:
        flag = requirement_line.FLAGS.get(misplaced[0], misplaced[0])
        raise LineError(f"{flag} after a requirement is not supported (pip accepts only --hash and "
                        "--config-settings there); put it on a line of its own" if flag != "--config-settings"
                        else "--config-settings is not supported (uv builds every package with its defaults)")
    parsed = requirement_line.classify(args, project)
    return Entry(args, parsed.name, parsed.kind, source, number, constraint, tuple(options.hashes),
                 tuple(_VAR.findall(args)), str(project), parsed.location, parsed.extras, parsed.marker)


def _rel(path: Path, project: Path) -> str:
    try:
        return str(path.relative_to(project.resolve()))
    except ValueError:
        return path.name

"""requirements.txt as pip reads it, every entry remembering its ``file:line``.

uv does the resolving; this module only reads the files so that errors and conflicts can name
the line they come from, ``${VAR}`` tokens and credentials can be kept out of uv's argv and
output, and the local project (``.``) can be found and digested.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from ..errors import InputError

FILENAME = "requirements.txt"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_USERINFO = re.compile(r"://([^/@\s]+)@")
_EGG = re.compile(r"[#&]egg=([A-Za-z0-9_.\-]+)")
_VCS = ("git+", "hg+", "svn+", "bzr+")
_VALUE_OPTIONS = {
    "-i": "index-url", "--index-url": "index-url", "--extra-index-url": "extra-index-url",
    "-f": "find-links", "--find-links": "find-links", "--trusted-host": "trusted-host",
    "--only-binary": "only-binary", "--no-binary": "no-binary",
}
_FLAG_OPTIONS = {"--no-index": "no-index", "--pre": "pre", "--prefer-binary": "prefer-binary"}


@dataclass(frozen=True)
class Entry:
    """One requirement line."""

    text: str  # as written (continuations joined, comment and --hash options removed)
    name: str | None  # canonical distribution name, when known before resolving
    kind: str  # "pep508" | "vcs" | "url" | "path"
    source: str  # file name, relative to the project
    line: int
    constraint: bool = False  # from a -c file
    hashes: tuple[str, ...] = ()
    variables: tuple[str, ...] = ()  # ${VAR} names used on this line
    base: str = ""  # folder that relative paths are relative to (the project, or a core file's folder)

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"

    @property
    def secret_variables(self) -> tuple[str, ...]:
        """${VAR}s inside a URL's userinfo (``https://${USER}:${TOKEN}@host``): credentials."""
        return tuple(name for userinfo in _USERINFO.findall(self.text) for name in _VAR.findall(userinfo))

    @property
    def requirement(self) -> Requirement | None:
        return Requirement(self.text) if self.kind == "pep508" else None


@dataclass
class RequirementsSet:
    entries: list[Entry] = field(default_factory=list)
    options: list[tuple[str, str, str]] = field(default_factory=list)  # (option, value, where)
    files: list[Path] = field(default_factory=list)  # every file read, for the input digest

    def option_values(self, option: str) -> list[str]:
        return [value for name, value, _ in self.options if name == option]


def parse_file(path: Path, project: Path, *, constraint: bool = False, into: RequirementsSet | None = None,
               _stack: tuple[Path, ...] = ()) -> RequirementsSet:
    """Read ``path`` and its -r/-c includes; ``project`` is where relative paths and names start."""
    result = into if into is not None else RequirementsSet()
    path = path.resolve()
    if path in _stack:
        raise InputError.at(_rel(_stack[-1], project), None, f"includes itself through {path.name}")
    result.files.append(path)
    source = _rel(path, project)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        where = _rel(_stack[-1], project) if _stack else source
        raise InputError.at(where, None, f"{source}: no such file") from err
    for number, line in _logical_lines(text):
        _parse_line(line, number, path, source, project, constraint, result, _stack + (path,))
    return result


def parse_lines(lines: list[str], source: str, project: Path) -> RequirementsSet:
    """Requirements given inline (a settings list): each string is one line."""
    result = RequirementsSet()
    for number, line in enumerate(lines, start=1):
        _parse_line(line.strip(), number, project / source, source, project, False, result, ())
    return result


def _logical_lines(text: str):
    """Join ``\\`` continuations and drop comments, yielding (first line number, text)."""
    buffer, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not buffer:
            start = number
        line = re.sub(r"(^|\s)#.*$", "", raw)
        if line.endswith("\\"):
            buffer += line[:-1] + " "
            continue
        buffer += line
        if buffer.strip():
            yield start, buffer.strip()
        buffer = ""
    if buffer.strip():
        yield start, buffer.strip()


def _parse_line(line: str, number: int, path: Path, source: str, project: Path, constraint: bool,
                result: RequirementsSet, stack: tuple[Path, ...]) -> None:
    if not line.startswith("-"):
        requirement, options = _split_options(line)
        result.entries.append(dataclasses.replace(
            _entry(requirement, options, line, number, source, constraint), base=str(project)))
        return
    try:
        words = shlex.split(line, posix=True)
    except ValueError as err:
        raise InputError.at(source, number, f"cannot split {line!r}: {err}") from err
    option, _, inline = words[0].partition("=")
    value = inline or (words[1] if len(words) > 1 else "")
    if option in ("-r", "--requirement", "-c", "--constraint"):
        if not value:
            raise InputError.at(source, number, f"{option} needs a file name")
        parse_file(path.parent / value, project, constraint=constraint or option in ("-c", "--constraint"),
                   into=result, _stack=stack)
    elif option in ("-e", "--editable"):
        raise InputError.at(source, number, f"editable installs ({line!r}) make no sense in an environment "
                            "mounted into containers", hint="drop '-e' to install the package normally")
    elif option in _VALUE_OPTIONS:
        if not value:
            raise InputError.at(source, number, f"{option} needs a value")
        result.options.append((_VALUE_OPTIONS[option], value, f"{source}:{number}"))
    elif option in _FLAG_OPTIONS:
        result.options.append((_FLAG_OPTIONS[option], "", f"{source}:{number}"))
    else:
        raise InputError.at(source, number, f"unsupported option {words[0]!r}")


def _split_options(line: str) -> tuple[str, list[str]]:
    """As pip does: the requirement runs up to the first whitespace-separated token starting with '-'."""
    tokens = line.split()
    for index, token in enumerate(tokens):
        if index and token.startswith("-"):
            return " ".join(tokens[:index]), tokens[index:]
    return line, []


def _entry(text: str, options: list[str], line: str, number: int, source: str, constraint: bool) -> Entry:
    hashes = []
    words = iter(options)
    for word in words:
        if word.startswith("--hash="):
            hashes.append(word.split("=", 1)[1])
        elif word == "--hash":
            hashes.append(next(words, ""))
        else:
            raise InputError.at(source, number, f"unsupported per-requirement option {word!r}")
    if any(":" not in h for h in hashes):
        raise InputError.at(source, number, "a --hash needs the form ALGORITHM:HEXDIGEST")
    variables = tuple(_VAR.findall(text))
    probe = _VAR.sub("x", text)
    if probe.startswith(_VCS) or ("@ " in probe and any(v in probe for v in _VCS)):
        return Entry(text, _egg_or_name(probe, source, number), "vcs", source, number, constraint, tuple(hashes),
                     variables)
    if probe.startswith(("http://", "https://", "file:")):
        return Entry(text, _egg_or_name(probe, source, number, required=False), "url", source, number, constraint,
                     tuple(hashes), variables)
    if probe.startswith((".", "/")) or probe in (".",):
        return Entry(text, None, "path", source, number, constraint, tuple(hashes), variables)
    try:
        requirement = Requirement(probe)
    except InvalidRequirement as err:
        message = str(err).splitlines()[0]
        raise InputError.at(source, number, f"{line!r} is not a valid requirement ({message})") from err
    kind = "url" if requirement.url else "pep508"
    if requirement.url and any(requirement.url.startswith(v) for v in _VCS):
        kind = "vcs"
    return Entry(text, canonicalize_name(requirement.name), kind, source, number, constraint, tuple(hashes), variables)


def _egg_or_name(text: str, source: str, number: int, required: bool = True) -> str | None:
    if " @ " in text:
        return canonicalize_name(text.split(" @ ", 1)[0].strip())
    egg = _EGG.search(text)
    if egg:
        return canonicalize_name(egg.group(1))
    if required:
        raise InputError.at(source, number, f"{text!r}: a VCS requirement needs '#egg=name' or 'name @ url'")
    return None


def expand(text: str, variables: dict[str, str], where: str) -> str:
    """Replace ``${VAR}`` tokens; a missing variable is an input error naming the line."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in variables:
            raise InputError(f"{where}: environment variable {name} is not set (neither in the environment "
                             "nor in the project's .env)", hint=f"export {name}=... or add it to .env")
        return variables[name]

    return _VAR.sub(replace, text)


def _rel(path: Path, project: Path) -> str:
    try:
        return str(path.relative_to(project.resolve()))
    except ValueError:
        return path.name

"""pip.conf beside requirements.txt, read as pip reads it (``[global]`` then ``[install]``)."""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass, field
from pathlib import Path

from .. import files
from ..errors import InputError

FILENAME = "pip.conf"
_KEYS = ("index-url", "extra-index-url", "find-links", "trusted-host", "no-index", "pre", "no-binary",
         "only-binary", "prefer-binary")
_FLAGS = ("no-index", "pre", "prefer-binary")
_TRUE, _FALSE = ("1", "true", "yes", "on", "y", "t"), ("0", "false", "no", "off", "n", "f")


@dataclass
class PipConfig:
    values: dict[str, list[str]] = field(default_factory=dict)
    where: dict[str, str] = field(default_factory=dict)  # key -> "pip.conf:LINE"


def read(path: Path) -> PipConfig:
    config = PipConfig()
    if not os.path.lexists(path):
        return config
    parser = configparser.ConfigParser(interpolation=None)
    text = files.read_text(path, path.name)
    try:
        parser.read_string(text, source=path.name)
    except configparser.Error as err:
        line = getattr(err, "lineno", None)
        raise InputError.at(path, line, f"not a valid pip configuration file "
                             f"({(err.message.splitlines() or [type(err).__name__])[0][:200]})") from err
    for section in ("global", "install"):
        if not parser.has_section(section):
            continue
        for key, value in parser.items(section):
            key = key.replace("_", "-")
            if key in _KEYS:
                where = f"{path.name}:{_line_of(text, key)}"
                config.values[key] = ([_flag(value, key, where)] if key in _FLAGS else
                                      [_find_link(v, path, where) for v in value.split()] if key == "find-links"
                                      else value.split())
                config.where[key] = where
    return config


def _find_link(value: str, path: Path, where: str) -> str:
    """A local find-links folder is relative to pip.conf's own folder (pip: to the working directory)."""
    if "://" in value or "${" in value:
        return value
    files.check_path_length(value, f"{where}: find-links {value[:80]}")
    folder = path.parent / value
    if files.probe(folder, f"{where}: find-links {value[:80]}") == "missing":
        raise InputError(f"{where}: find-links {value}: no such directory {folder}")
    return str(files.resolve(folder, f"{where}: find-links {value[:80]}"))


def _flag(value: str, key: str, where: str) -> str:
    """pip's boolean options: true/false, yes/no, on/off, 1/0."""
    if value.strip().lower() in _TRUE:
        return "true"
    if value.strip().lower() in _FALSE:
        return "false"
    raise InputError(f"{where}: {key} = {value[:40]!r} is not a boolean (expected true or false)")


def _line_of(text: str, key: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip().replace("_", "-").startswith(key):
            return number
    return 1

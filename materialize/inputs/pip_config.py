"""pip.conf beside requirements.txt, read as pip reads it (``[global]`` then ``[install]``)."""

from __future__ import annotations

import configparser
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError

FILENAME = "pip.conf"
_KEYS = ("index-url", "extra-index-url", "find-links", "trusted-host", "no-index", "pre")


@dataclass
class PipConfig:
    values: dict[str, list[str]] = field(default_factory=dict)
    where: dict[str, str] = field(default_factory=dict)  # key -> "pip.conf:LINE"


def read(path: Path) -> PipConfig:
    config = PipConfig()
    if not path.is_file():
        return config
    parser = configparser.ConfigParser(interpolation=None)
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        parser.read_string(text, source=path.name)
    except configparser.Error as err:
        line = getattr(err, "lineno", None)
        raise InputError.at(path, line, f"not a valid pip configuration file ({err.message.splitlines()[0]})") from err
    for section in ("global", "install"):
        if not parser.has_section(section):
            continue
        for key, value in parser.items(section):
            key = key.replace("_", "-")
            if key in _KEYS:
                config.values[key] = value.split()
                config.where[key] = f"{path.name}:{_line_of(text, key)}"
    return config


def _line_of(text: str, key: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip().replace("_", "-").startswith(key):
            return number
    return 1

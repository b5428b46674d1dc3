"""The project's ``.env`` file (Cortex sources it before installing): ``[export ]KEY=VALUE`` lines."""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping
from pathlib import Path

from .. import files
from ..errors import InputError
from ..secrets import register

FILENAME = ".env"
MAX_VALUE = 64 * 1024
_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")


def read(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if not os.path.lexists(path):
        return values
    for number, raw in enumerate(files.read_text(path, path.name).splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            raise InputError.at(path, number, "expected KEY=VALUE")
        value = match.group(2)
        if len(value) > MAX_VALUE:  # shlex reads a character at a time: a megabyte would take seconds
            raise InputError.at(path, number, f"the value of {match.group(1)} is longer than {MAX_VALUE // 1024} KiB")
        try:
            words = shlex.split(value, comments=True) if value else [""]
        except ValueError as err:
            raise InputError.at(path, number, f"cannot parse the value of {match.group(1)} ({err})") from err
        values[match.group(1)] = " ".join(words)
    return values


def variables(project: Path, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The environment wins over .env, as when Cortex sources .env into an existing shell."""
    merged = {**read(project / FILENAME), **environ}
    return merged


def expand_secret_values(names: tuple[str, ...], values: Mapping[str, str]) -> None:
    """Variables used inside URLs carry credentials: make sure redaction knows them."""
    for name in names:
        register(values.get(name))

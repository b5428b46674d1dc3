"""Reading a user's file: regular files only, under a size cap, decoded as its tool would, no NUL bytes.

Every input (conda-packages.txt, requirements files and their includes, pip.conf, .env,
materialize.toml, config files, the lockfile) is read here, so that a FIFO never blocks, a
``-r /dev/zero`` never fills memory and a directory, an unreadable or undecodable file is an
`InputError` naming the file, never a traceback.
"""

from __future__ import annotations

import codecs
import os
import re
import stat
from pathlib import Path

from .errors import InputError

MAX_BYTES = 8 * 1024 * 1024  # README "Input files": larger inputs are refused, never read whole
_MIB = 1024 * 1024

# pip's order: the UTF-16 LE BOM is a prefix of the UTF-32 LE one.
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF32_LE, "utf-32-le"),
         (codecs.BOM_UTF16_BE, "utf-16-be"), (codecs.BOM_UTF16_LE, "utf-16-le"))
_PEP263 = re.compile(rb"coding[:=]\s*([-\w.]+)")
_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def read_bytes(path: Path, shown: str | None = None) -> bytes:
    """The bytes of a regular file of at most `MAX_BYTES`; ``shown`` names it in errors."""
    shown = shown or str(path)
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise InputError(f"{shown}: is a directory, not a file")
        kind = next((what for test, what in _KINDS if test(info.st_mode)), None)
        if kind is not None:
            raise InputError(f"{shown}: is {kind}, not a regular file")
        if info.st_size > MAX_BYTES:
            raise _too_large(shown, info.st_size)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)  # /proc files report size 0: the cap still holds
    except FileNotFoundError as err:
        raise InputError(f"{shown}: no such file") from err
    except PermissionError as err:
        raise InputError(f"{shown}: permission denied", hint="make the file readable by this user") from err
    except ValueError as err:  # "embedded null byte" in the path
        raise InputError(f"{shown}: the path contains a NUL byte") from err
    except OSError as err:
        raise InputError(f"{shown}: cannot be read ({err.strerror or err})") from err
    if len(data) > MAX_BYTES:
        raise _too_large(shown, len(data))
    return data


PATH_MAX = 4096


def check_path_length(text: str, shown: str) -> None:
    """A path longer than PATH_MAX cannot exist; refusing it first also spares pathlib a million parts."""
    if len(text) > PATH_MAX:
        raise InputError(f"{shown}: a path of {len(text)} characters is longer than any filesystem allows")


def probe(path: Path | str, shown: str) -> str:
    """"missing", "directory", "file" or "other" (a FIFO, a device); a path that cannot even be looked
    at (too long, a symlink loop, no permission, a NUL) is an `InputError` naming ``shown``."""
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return "missing"
    except ValueError as err:
        raise InputError(f"{shown}: the path contains a NUL character") from err
    except OSError as err:
        raise InputError(f"{shown}: cannot be looked at ({err.strerror or type(err).__name__})") from err
    return "directory" if stat.S_ISDIR(info.st_mode) else "file" if stat.S_ISREG(info.st_mode) else "other"


def resolve(path: Path | str, shown: str) -> Path:
    """``path`` made absolute with links resolved; a symlink loop or an unusable path is an `InputError`."""
    try:
        return Path(path).expanduser().resolve()
    except RuntimeError as err:
        raise InputError(f"{shown}: a symlink loop") from err
    except (OSError, ValueError) as err:
        raise InputError(f"{shown}: not a usable path ({getattr(err, 'strerror', None) or err})") from err


def read_text(path: Path, shown: str | None = None, *, pip_rules: bool = False) -> str:
    """UTF-8 text (a UTF-8 BOM is dropped). With ``pip_rules``, as pip decodes a requirements file:
    a UTF-8/16/32 BOM, else a PEP 263 ``# coding: X`` line among the first two, else UTF-8."""
    shown = shown or str(path)
    return decode(read_bytes(path, shown), shown, pip_rules=pip_rules)


def decode(data: bytes, shown: str, *, pip_rules: bool = False) -> str:
    encoding, start = "utf-8", 0
    for bom, name in _BOMS if pip_rules else _BOMS[:1]:
        if data.startswith(bom):
            encoding, start = name, len(bom)
            break
    else:
        declared = _declared_encoding(data) if pip_rules else None
        encoding = declared or encoding
    try:
        text = data[start:].decode(encoding)
    except LookupError as err:
        raise InputError(f"{shown}:1: unknown encoding {encoding!r} declared") from err
    except UnicodeDecodeError as err:
        line = data[:start + err.start].count(b"\n") + 1
        hint = ("save it as UTF-8, or declare its encoding on the first line: # -*- coding: latin-1 -*-"
                if pip_rules else "save it as UTF-8")
        raise InputError(f"{shown}:{line}: not valid {encoding} text (byte {data[start + err.start]:#04x})",
                         hint=hint) from err
    if "\x00" in text:
        raise InputError(f"{shown}:{text.count(chr(10), 0, text.index(chr(0))) + 1}: contains a NUL character")
    return text


def _declared_encoding(data: bytes) -> str | None:
    for line in data.split(b"\n", 2)[:2]:
        if line[:1] == b"#":
            found = _PEP263.search(line)
            if found:
                return found.group(1).decode("ascii")
    return None


def short(text: str, limit: int = 200) -> str:
    """At most ``limit`` characters of a user's text (a path, a line) for a message."""
    return text if len(text) <= limit else text[:limit] + "..."


def _too_large(shown: str, size: int) -> InputError:
    return InputError(f"{shown}: is larger than {MAX_BYTES // _MIB} MiB ({size / _MIB:.1f} MiB read), the most "
                      "materialize reads from one input file", hint="an input this large is not a project file; "
                      "check the path")

"""What a wheel holds, read from the wheel itself: every member's size, sha256 and executable bit.

The expected digests of a prefix's PyPI files come from here, not from the RECORD that the wheel
(or the installer) claims: the wheel's own sha256 was checked against the lockfile before it is
read. Remembered in the cache under the wheel's sha256 (``wheel-contents-v1/<sha256>.json``).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import NamedTuple

from .. import cache

CONTENTS_VERSION = 1
_CHUNK = 1 << 20


class WheelMember(NamedTuple):  # a tuple: thousands per install, made faster than a dataclass
    size: int
    sha256: str
    executable: bool
    python_shebang: bool  # a `#!python` script that the installer rewrites for the target interpreter


def contents(wheel: Path, sha256: str) -> dict[str, WheelMember]:
    """Member path -> what it holds, remembered under the wheel's (already verified) sha256."""
    memo = cache.root() / cache.WHEEL_CONTENTS / f"{sha256}.json"
    try:
        data = json.loads(memo.read_text())
        if data.get("version") == CONTENTS_VERSION:
            return {path: WheelMember(int(size), sha, bool(exe), bool(script))
                    for path, (size, sha, exe, script) in data["members"].items()}
    except (OSError, ValueError, KeyError, TypeError):
        pass
    found = read(wheel)
    members = {path: [m.size, m.sha256, m.executable, m.python_shebang] for path, m in sorted(found.items())}
    cache.remember(memo, json.dumps({"version": CONTENTS_VERSION, "members": members}, separators=(",", ":")))
    return found


def read(wheel: Path) -> dict[str, WheelMember]:
    found = {}
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            digest = hashlib.sha256()
            with archive.open(info) as handle:
                head = handle.read(_CHUNK)
                digest.update(head)
                for chunk in iter(lambda: handle.read(_CHUNK), b""):
                    digest.update(chunk)
            executable = bool((info.external_attr >> 16) & 0o111)
            found[info.filename] = WheelMember(info.file_size, digest.hexdigest(), executable,
                                               head.startswith(b"#!python"))
    return found

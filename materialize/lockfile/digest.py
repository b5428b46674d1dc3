"""The input digest: a canonical, versioned serialization of the normalized inputs, hashed.

Not a dump of model classes (conda-lock's content_hash issues #432, #449, #797 say why): each
field is chosen and ordered here, and DIGEST_VERSION changes whenever this serialization does.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

DIGEST_VERSION = 1
_SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__", "build", "dist", ".venv", ".tox", ".nox", ".mypy_cache",
              ".pytest_cache", ".ruff_cache", "node_modules"}


def content_hash(fields: dict[str, Any]) -> str:
    canonical = json.dumps({"digest-version": DIGEST_VERSION, **fields}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def source_tree(root: Path, skip_files: set[str] = frozenset()) -> str:
    """sha256 over a source tree's relative paths and contents (build outputs and VCS dirs left out)."""
    digest = hashlib.sha256()
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.endswith(".egg-info"))
        for name in sorted(files):
            path = Path(folder) / name
            rel = path.relative_to(root).as_posix()
            if (rel in skip_files or name.endswith((".pyc", ".pyo")) or name == ".env" or path.is_symlink()
                    or not path.is_file()):  # a FIFO or a socket would block the read or fail it
                continue
            digest.update(rel.encode() + b"\0" + bytes.fromhex(file_sha256(path)))
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def local_source(path: Path, skip_files: set[str] = frozenset()) -> str:
    """The digest of a local requirement: a source tree, or one archive (``./dist/pkg-1.0-py3-none-any.whl``)."""
    return file_sha256(path) if path.is_file() else source_tree(path, skip_files)

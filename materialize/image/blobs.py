"""The content-addressed blob cache (``oci-blobs-v1/sha256/<hex>``) and the `Store` interface.

A blob enters the cache only through a temp file whose sha256 was checked (`BlobCache.adopt`),
and is hashed again whenever it is read for a pull, so a corrupted cache entry is found, removed
and fetched again rather than unpacked. A `Store` is where images live: an OCI image layout on
disk (``layout.py``) or a registry (``registry.py``), each bound to one reference.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from pathlib import Path
from typing import Protocol

from .. import cache
from ..errors import IntegrityError

_CHUNK = 1 << 20
_STALE_TEMP = 3600.0  # seconds: a temp file this old was left by a killed run


class Store(Protocol):
    """Where an image lives. Bound to a reference (a tag or a digest) at construction."""

    name: str  # shown in messages: the reference as the user wrote it

    def resolve(self) -> tuple[bytes, str]:
        """The exact bytes and media type of the manifest (or index) the reference names."""

    def manifest(self, digest: str) -> tuple[bytes, str]:
        """A manifest by digest (an index's entry)."""

    def has_blob(self, digest: str) -> bool: ...

    def get_blob(self, digest: str, target: Path) -> None:
        """Write the blob's bytes to ``target``; the caller checks the digest."""

    def put_blob(self, digest: str, path: Path, size: int) -> None: ...

    def tagged(self, digest: str) -> bool:
        """True when the bound reference already names the manifest ``digest``."""

    def put_manifest(self, data: bytes, media_type: str, platform: dict[str, str]) -> None:
        """Store ``data`` byte for byte under the bound reference."""


class HashingReader:
    """A reader that hashes what is read through it."""

    def __init__(self, raw) -> None:
        self.raw, self.sha = raw, hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.sha.update(data)
        return data


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def hex_of(digest: str) -> str:
    algorithm, _, value = digest.partition(":")
    if algorithm != "sha256" or len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise IntegrityError(f"unsupported or malformed digest {digest!r} (only sha256 is accepted)")
    return value


class BlobCache:
    def __init__(self) -> None:
        self.root = cache.bucket(cache.OCI_BLOBS)
        self._temp = self.root / "tmp"
        self._temp.mkdir(exist_ok=True)

    def path(self, digest: str) -> Path:
        return self.root / "sha256" / hex_of(digest)

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def verified(self, digest: str) -> Path | None:
        """The cached blob when its bytes still match ``digest``; a mismatching entry is removed."""
        path = self.path(digest)
        if not path.is_file():
            return None
        if file_digest(path) != digest:
            path.unlink(missing_ok=True)
            return None
        return path

    def temp(self) -> Path:
        self.sweep()
        handle, name = tempfile.mkstemp(dir=self._temp, prefix="blob-")
        os.close(handle)
        return Path(name)

    def adopt(self, temp: Path, digest: str) -> Path:
        """Move a written temp file into place as ``digest``, checking its bytes first."""
        actual = file_digest(temp)
        if actual != digest:
            temp.unlink(missing_ok=True)
            raise IntegrityError(f"blob {digest} does not match its digest (its bytes hash to {actual})")
        target = self.path(digest)
        target.parent.mkdir(exist_ok=True)
        os.chmod(temp, 0o644)
        os.replace(temp, target)
        return target

    def sweep(self) -> None:
        now = time.time()
        for leftover in self._temp.iterdir():
            try:
                if now - leftover.stat().st_mtime > _STALE_TEMP:
                    leftover.unlink()
            except FileNotFoundError:
                continue

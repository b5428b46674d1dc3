"""Download artifacts into the cache, checking every byte against the lockfile's sha256.

rattler does not check hashes for file:// URLs, so every conda archive passes through here,
whatever its scheme, before it is linked.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urlsplit

from . import cache
from .errors import FetchError, IntegrityError
from .secrets import redact

log = logging.getLogger(__name__)
_CHUNK = 1 << 20


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cached_path(url: str, sha256: str) -> Path:
    return cache.root() / cache.CONDA_ARCHIVES / sha256 / _file_name(url)


def fetch(url: str, sha256: str, *, offline: bool = False) -> Path:
    """Return the cached, verified archive for ``url``; download it first if needed."""
    target = cached_path(url, sha256)
    if target.is_file():
        return target
    if offline:
        raise FetchError(f"{_file_name(url)} is not in the cache and --offline forbids downloading it",
                         hint="run 'materialize fetch' on a machine with network access first")
    target.parent.mkdir(parents=True, exist_ok=True)
    with cache.file_lock(target.parent / ".lock", f"the cache entry {target.parent}"):
        if target.is_file():
            return target
        handle, temp_name = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        temp = Path(temp_name)
        try:
            with os.fdopen(handle, "wb") as out:
                _download(url, out)
            actual = sha256_of(temp)
            if actual != sha256:
                raise IntegrityError(f"{_file_name(url)}: sha256 {actual} does not match the lockfile's {sha256}",
                                     hint="the artifact or the lockfile was altered; re-lock from trusted inputs")
            os.chmod(temp, 0o644)
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)
    return target


def verify_cached(path: Path, sha256: str) -> None:
    """Re-check a cached file (a corrupted cache entry is refused, then dropped)."""
    actual = sha256_of(path)
    if actual != sha256:
        shutil.rmtree(path.parent, ignore_errors=True)
        raise IntegrityError(f"cached {path.name} is corrupted (sha256 {actual}, expected {sha256}); "
                             "the entry was removed", hint="run the command again to download it afresh")


def _download(url: str, out) -> None:
    parts = urlsplit(url)
    if parts.scheme == "file":
        source = Path(unquote(parts.path))
        try:
            with source.open("rb") as handle:
                shutil.copyfileobj(handle, out, _CHUNK)
        except OSError as err:
            raise FetchError(f"cannot read {redact(url)}: {err.strerror}") from err
        return
    request = urllib.request.Request(url, headers={"User-Agent": "materialize"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            shutil.copyfileobj(response, out, _CHUNK)
    except urllib.error.HTTPError as err:
        raise FetchError(f"downloading {redact(url)} failed: HTTP {err.code} {err.reason}") from err
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise FetchError(f"downloading {redact(url)} failed: {reason}") from err


def _file_name(url: str) -> str:
    return unquote(urlsplit(url).path.rsplit("/", 1)[-1])

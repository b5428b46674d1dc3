"""Download artifacts into the cache, checking every byte against the lockfile's sha256.

Conda archives go to ``conda-archives-v1/<sha256>/<file>``, PyPI artifacts to
``wheels-v1/<sha256>/<file>``. rattler does not check hashes for file:// URLs and uv would write
the URL it installed from into the prefix, so every artifact passes through here, whatever its
scheme, before it is linked; a cached entry is re-hashed each time it is used. Writers of one
entry take its file lock; a finished entry is immutable (temp file + ``os.replace``), so readers
need no lock and installs into different prefixes share the cache safely.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import netrc
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from . import cache
from .errors import FetchError, IntegrityError
from .secrets import redact

log = logging.getLogger(__name__)
_CHUNK = 1 << 20
_WORKERS = 8


@dataclass(frozen=True)
class Artifact:
    url: str
    sha256: str
    bucket: str = cache.CONDA_ARCHIVES


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cached_path(url: str, sha256: str, bucket: str = cache.CONDA_ARCHIVES) -> Path:
    return cache.root() / bucket / sha256 / file_name(url)


def verified(artifact: Artifact, *, offline: bool = False, credentials=None) -> Path:
    """The cached file for ``artifact``, re-hashed if it was cached already, downloaded otherwise."""
    cached = cached_path(artifact.url, artifact.sha256, artifact.bucket)
    if cached.is_file():
        verify_cached(cached, artifact.sha256)
        return cached
    return fetch(artifact.url, artifact.sha256, offline=offline, bucket=artifact.bucket, credentials=credentials)


def verified_all(artifacts: Sequence[Artifact], *, offline: bool = False, credentials=None) -> list[Path]:
    """``verified`` for many artifacts, downloads in parallel; the first failure is raised."""
    if len(artifacts) <= 1:
        return [verified(a, offline=offline, credentials=credentials) for a in artifacts]
    with ThreadPoolExecutor(max_workers=min(_WORKERS, len(artifacts))) as pool:
        futures = [pool.submit(verified, a, offline=offline, credentials=credentials) for a in artifacts]
        return [future.result() for future in futures]


def fetch(url: str, sha256: str, *, offline: bool = False, bucket: str = cache.CONDA_ARCHIVES,
          credentials=None) -> Path:
    """Return the cached, verified artifact for ``url``; download it first if needed."""
    target = cached_path(url, sha256, bucket)
    if target.is_file():
        return target
    if offline:
        raise FetchError(f"{file_name(url)} is not in the cache and --offline forbids downloading it",
                         hint="run 'materialize fetch' for this lockfile on a machine with network access first")
    target.parent.mkdir(parents=True, exist_ok=True)
    with cache.file_lock(target.parent / ".lock", f"the cache entry {target.parent}"):
        if target.is_file():
            return target
        handle, temp_name = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        temp = Path(temp_name)
        try:
            with os.fdopen(handle, "wb") as out:
                _download(url, out, credentials)
            actual = sha256_of(temp)
            if actual != sha256:
                raise IntegrityError(f"{file_name(url)}: sha256 {actual} does not match the lockfile's {sha256}",
                                     hint="the artifact or the lockfile was altered; re-lock from trusted inputs")
            os.chmod(temp, 0o644)
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)
    return target


def verify_cached(path: Path, sha256: str) -> None:
    """Re-check a cached file (a corrupted cache entry is refused, then dropped)."""
    actual = sha256_of(path)
    if actual == sha256:
        return
    with cache.file_lock(path.parent / ".lock", f"the cache entry {path.parent}"):
        path.unlink(missing_ok=True)
    raise IntegrityError(f"cached {path.name} is corrupted (sha256 {actual}, expected {sha256}); "
                         "the entry was removed", hint="run the command again to download it afresh")


def _download(url: str, out, credentials) -> None:
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
    _authorize(request, credentials)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            shutil.copyfileobj(response, out, _CHUNK)
    except urllib.error.HTTPError as err:
        raise FetchError(f"downloading {redact(url)} failed: HTTP {err.code} {err.reason}",
                         hint="check the credentials in pip.conf or .env" if err.code in (401, 403) else None
                         ) from err
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise FetchError(f"downloading {redact(url)} failed: {reason}") from err


def _authorize(request: urllib.request.Request, credentials) -> None:
    """Basic auth for the hosts the project (or ~/.netrc, as uv reads it) has credentials for.

    An unredirected header: a redirect to another host (a CDN) never receives the password.
    """
    parts = urlsplit(request.full_url)
    host, hosts = parts.hostname or "", getattr(credentials, "hosts", None) or {}
    user, password = hosts.get(parts.netloc.rpartition("@")[2], hosts.get(host, (None, None)))
    secret = password.reveal() if password is not None else ""
    if user is None:
        user, secret = _netrc_login(host)
    if user is not None:
        token = base64.b64encode(f"{user}:{secret}".encode()).decode()
        request.add_unredirected_header("Authorization", f"Basic {token}")


def _netrc_login(host: str) -> tuple[str | None, str]:
    try:
        found = netrc.netrc().authenticators(host)
    except (OSError, netrc.NetrcParseError):
        return None, ""
    return (found[0], found[2] or "") if found else (None, "")


def file_name(url: str) -> str:
    return unquote(urlsplit(url).path.rsplit("/", 1)[-1])

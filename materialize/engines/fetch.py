"""Download artifacts into the cache, checking every byte against the lockfile's sha256.

Conda archives go to ``conda-archives-v1/<sha256>/<file>``, PyPI artifacts to
``wheels-v1/<sha256>/<file>``. rattler does not check hashes for file:// URLs and uv would write
the URL it installed from into the prefix, so every artifact passes through here, whatever its
scheme, before it is linked. Writers of one entry take its file lock; a finished entry is
immutable (temp file + ``os.replace``), so readers need no lock and installs into different
prefixes share the cache safely.

A cached entry is re-hashed when it is used, unless it was hashed before and has not changed
since: each successful hash writes ``verified-v1/<bucket>/<sha256>.json``, holding the sha256 and
the file's device, inode, size, mtime and ctime at that moment. Any write to the file changes its
mtime and ctime (ctime cannot be set back from user space: ``utime`` sets it to now), replacing it
changes its inode, truncating it its size; so a file whose stat still equals the record holds the
bytes that were hashed. This catches corruption, partial writes and edits. It does not defend
against someone who can write the cache folder (they could rewrite the record too, as they could
rattler's extracted packages): the cache is trusted as the user's own, as uv's and conda's are.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import netrc
import os
import shutil
import stat
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .. import cache
from ..errors import FetchError, IntegrityError
from ..secrets import Credentials, Login, Secret, origin, redact, split_credentials, strip_credentials

log = logging.getLogger(__name__)
CHUNK = 1 << 20  # read and copy size
_WORKERS = 8


@dataclass(frozen=True)
class Artifact:
    url: str
    sha256: str
    bucket: str = cache.CONDA_ARCHIVES


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cached_path(url: str, sha256: str, bucket: str = cache.CONDA_ARCHIVES) -> Path:
    return cache.root() / bucket / sha256 / file_name(url)


def verified(artifact: Artifact, *, offline: bool = False, credentials=None) -> Path:
    """The cached file for ``artifact``, re-hashed if it was cached already (and changed, or never
    hashed, since), downloaded otherwise."""
    ready = _verified_before(artifact)
    if ready is not None:
        return ready
    cached = cached_path(artifact.url, artifact.sha256, artifact.bucket)
    if cached.is_file():
        before = _identity(cached)
        verify_cached(cached, artifact.sha256)
        _remember_verified(cached, artifact.sha256, before)
        return cached
    return fetch(artifact.url, artifact.sha256, offline=offline, bucket=artifact.bucket, credentials=credentials)


def verified_all(artifacts: Sequence[Artifact], *, offline: bool = False, credentials=None,
                 on_done=None) -> list[Path]:
    """``verified`` for many artifacts, downloads in parallel; the first failure is raised.
    ``credentials``: the logins, or a function giving them (called only when something is not
    verified in the cache already). ``on_done()`` is called once per artifact (a progress bar's advance)."""

    def one(artifact: Artifact) -> Path:
        path = verified(artifact, offline=offline, credentials=credentials)
        if on_done is not None:
            on_done()
        return path

    found: list[Path | None] = []
    for artifact in artifacts:  # a warm cache: a stat and a small read each, no thread needed
        ready = _verified_before(artifact)
        found.append(ready)
        if ready is not None and on_done is not None:
            on_done()
    rest = [i for i, path in enumerate(found) if path is None]
    if rest and callable(credentials):
        credentials = credentials()
    if len(rest) <= 1:
        for i in rest:
            found[i] = one(artifacts[i])
        return found  # type: ignore[return-value]
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=min(_WORKERS, len(rest)))
    interrupted = False
    try:
        for i, future in [(i, pool.submit(one, artifacts[i])) for i in rest]:
            found[i] = future.result()
        return found  # type: ignore[return-value]
    except KeyboardInterrupt:  # Ctrl-C: stop now, not after the slowest download (entries are written atomically)
        interrupted = True
        raise
    finally:
        pool.shutdown(wait=not interrupted, cancel_futures=interrupted)


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
        _remember_verified(target, sha256)
    return target


def _verified_before(artifact: Artifact) -> Path | None:
    """The cached file, when it is one that was hashed to the artifact's sha256 and has not changed
    since (module docstring): one stat and one small read, ~230 of them per install."""
    cached = cached_path(artifact.url, artifact.sha256, artifact.bucket)
    try:
        info = os.stat(cached)
        if not stat.S_ISREG(info.st_mode):
            return None
        record = json.loads(_record_of(cached).read_bytes())
    except (OSError, ValueError):
        return None
    identity = [info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns]
    return cached if record == {"sha256": artifact.sha256, "stat": identity} else None


def _identity(path: Path) -> list[int]:
    info = os.stat(path)
    return [info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns]


def _record_of(path: Path) -> Path:
    """``verified-v1/<bucket>/<sha256>.json`` for ``<bucket>/<sha256>/<file>`` (entries keep one file)."""
    return path.parents[2] / cache.VERIFIED / path.parents[1].name / f"{path.parent.name}.json"


def _remember_verified(path: Path, sha256: str, before: list[int] | None = None) -> None:
    """Record that ``path`` (just hashed to ``sha256``) is verified, with its stat (atomic write).

    ``before`` is the stat taken before hashing: when the file changed meanwhile, nothing is recorded.
    (A freshly fetched entry was hashed as a private temp file under the entry's lock.)"""
    record = _record_of(path)
    temp = record.with_name(f"{record.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        identity = _identity(path)
        if before is not None and identity != before:
            return
        record.parent.mkdir(parents=True, exist_ok=True)
        temp.write_text(json.dumps({"sha256": sha256, "stat": identity}))
        os.replace(temp, record)
    except OSError:  # a read-only cache still works: the entry is hashed on every use
        temp.unlink(missing_ok=True)


def verify_cached(path: Path, sha256: str) -> None:
    """Re-check a cached file (a corrupted cache entry is refused, then dropped)."""
    actual = sha256_of(path)
    if actual == sha256:
        return
    with cache.file_lock(path.parent / ".lock", f"the cache entry {path.parent}"):
        path.unlink(missing_ok=True)
        _record_of(path).unlink(missing_ok=True)
    raise IntegrityError(f"cached {path.name} is corrupted (sha256 {actual}, expected {sha256}); "
                         "the entry was removed", hint="run the command again to download it afresh")


def _download(url: str, out, credentials) -> None:
    url, user, password = split_credentials(url)
    if user is not None or password is not None:  # a lockfile written by hand (or by hand-me-down tools)
        logins = dict(getattr(credentials, "logins", {}))
        logins[origin(url) or ""] = Login(user or "", password, "the lockfile")
        credentials = Credentials(logins)
    parts = urlsplit(url)
    if parts.scheme == "file":
        source = Path(unquote(parts.path))
        try:
            with source.open("rb") as handle:
                shutil.copyfileobj(handle, out, CHUNK)
        except OSError as err:
            raise FetchError(f"cannot read {redact(url)}: {err.strerror}") from err
        return
    from . import http_get  # urllib.request and http.client: 30 ms, only when something is downloaded

    http_get.copy(url, out, credentials)


def netrc_login(host: str) -> Login | None:
    try:
        found = netrc.netrc(os.environ.get("NETRC") or None).authenticators(host)
    except (OSError, netrc.NetrcParseError):
        return None
    if not found:
        return None
    return Login(found[0] or "", Secret(found[2]) if found[2] else None, "netrc")


def file_name(url: str) -> str:
    return unquote(urlsplit(strip_credentials(url)).path.rsplit("/", 1)[-1])

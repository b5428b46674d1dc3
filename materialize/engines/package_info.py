"""Read files of a conda package's ``info/`` part without downloading the whole archive.

A ``.conda`` archive is a zip holding ``info-*.tar.zst`` (a few kB: index.json, paths.json) and
``pkg-*.tar.zst`` (the files). Over HTTP, conda-package-streaming's ``LazyConda`` reads the zip's
central directory and then only the info member, with range requests (2-3 requests, a small
fraction of the archive). A server that ignores ``Range`` (it answers 200 with the whole body) or
refuses it (416) gets a full download instead, through ``fetch`` (sha256-checked, cached for the
install). ``.tar.bz2`` archives cannot be read in part and are downloaded whole; ``file://``
archives are read in place.

A range read cannot check the archive's sha256 (that needs every byte): what it returns is the
server's word for that archive, as the repodata that named the sha256 was. The install checks
the full archive. Only this module imports conda-package-streaming and requests.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..errors import FetchError, IntegrityError
from ..secrets import redact

log = logging.getLogger(__name__)
_local = threading.local()  # one requests.Session per worker thread (keep-alive, not shared)
_NO_RANGES: set[str] = set()  # hosts that answered a range request with the whole file (this run)


def read_info(url: str, sha256: str, wanted: frozenset[str]) -> dict[str, bytes]:
    """The members of ``info/`` named in ``wanted`` (e.g. ``info/paths.json``) that the package has."""
    try:
        return _read_info(url, sha256, wanted)
    except _unreadable() as err:  # not a conda package (truncated, another file, a broken server)
        name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
        raise IntegrityError(f"{name} ({redact(url)}) is not a readable conda package: {type(err).__name__}: {err}",
                             hint="check the channel; re-index it if the file was replaced") from err


def _unreadable() -> tuple[type[BaseException], ...]:
    import tarfile
    import zipfile

    errors: list[type[BaseException]] = [zipfile.BadZipFile, tarfile.TarError, LookupError, EOFError]
    try:
        from conda_package_streaming.package_streaming import zstd

        errors += [zstd.ZstdError] if zstd is not None and hasattr(zstd, "ZstdError") else []
    except ImportError:  # pragma: no cover
        pass
    return tuple(errors)


def _read_info(url: str, sha256: str, wanted: frozenset[str]) -> dict[str, bytes]:
    parts = urlsplit(url)
    if parts.scheme == "file":
        return _from_local(Path(unquote(parts.path)), wanted)
    if parts.scheme in ("http", "https") and parts.path.endswith(".conda") and parts.netloc not in _NO_RANGES:
        found = _ranged(url, wanted)
        if found is not None:
            return found
        _NO_RANGES.add(parts.netloc)  # the next archives from there: straight to a whole download
    from . import fetch

    return _from_local(fetch.fetch(url, sha256), wanted)


def _from_local(archive: Path, wanted: frozenset[str]) -> dict[str, bytes]:
    from conda_package_streaming import package_streaming

    try:
        return _collect(package_streaming.stream_conda_info(archive), wanted)
    except OSError as err:
        raise FetchError(f"cannot read {archive}: {err.strerror or err}") from err


def _collect(stream, wanted: frozenset[str]) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    try:
        for tar, member in stream:
            if member.name in wanted and member.isfile():
                handle = tar.extractfile(member)
                found[member.name] = handle.read() if handle is not None else b""
                if len(found) == len(wanted):
                    break
    finally:
        stream.close()
    return found


def _session():
    session = getattr(_local, "session", None)
    if session is None:
        import requests

        session = requests.Session()
        session.headers["User-Agent"] = "materialize"
        _local.session = session
    return session


def _ranged(url: str, wanted: frozenset[str]) -> dict[str, bytes] | None:
    """The info members read with range requests, or None when the server does not serve ranges."""
    import requests
    from conda_package_streaming import package_streaming
    from conda_package_streaming.lazy_wheel import HTTPRangeRequestUnsupported, LazyConda

    name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    try:
        archive = LazyConda(url, _session())
    except HTTPRangeRequestUnsupported:
        log.debug("%s: no range support, downloading it whole", redact(url))
        return None
    except requests.HTTPError as err:
        status = err.response.status_code if err.response is not None else None
        if status == 416:
            log.debug("%s: range not satisfiable, downloading it whole", redact(url))
            return None
        raise _failure(url, f"HTTP {status}", status) from err
    except requests.RequestException as err:
        raise _failure(url, type(err).__name__, None) from err
    try:
        archive.prefetch(name[: -len(".conda")])
        return _collect(package_streaming.stream_conda_info(name, archive), wanted)
    except requests.HTTPError as err:
        status = err.response.status_code if err.response is not None else None
        raise _failure(url, f"HTTP {status}", status) from err
    except requests.RequestException as err:
        raise _failure(url, type(err).__name__, None) from err
    finally:
        archive.close()


def _failure(url: str, reason: str, status: int | None) -> FetchError:
    hint = "check the channel's credentials (~/.netrc)" if status in (401, 403) else None
    return FetchError(f"reading the package information of {redact(url)} failed: {reason}", hint=hint)

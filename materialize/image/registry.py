"""A small client of the OCI distribution API (urllib only): the `Store` for registry references.

What it speaks: ``GET /v2/`` (finds the scheme and the auth challenge); ``HEAD``/``GET`` of blobs
(a redirect to storage is followed without the ``Authorization`` header); uploads as
``POST /v2/<repo>/blobs/uploads/`` then one ``PUT <location>&digest=...`` of the whole blob;
manifests ``GET`` with the OCI and docker media types in ``Accept``, ``HEAD`` to compare a tag's
digest, and ``PUT`` of the exact bytes (the registry's ``Docker-Content-Digest`` must equal ours).

HTTPS always, except for a loopback registry (127.0.0.0/8, ::1, localhost) or one marked insecure
(``--insecure``, the ``insecure-registries`` setting): those try HTTPS and fall back to plain
HTTP, as docker does; insecure ones also accept any TLS certificate. Idempotent requests are
retried twice on connection errors and 5xx answers.
"""

from __future__ import annotations

import http.client
import json
import logging
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import FetchError, IntegrityError
from ..secrets import redact
from .auth import TIMEOUT, Authorizer, parse_challenge
from .blobs import digest_of
from .build import DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST
from .credentials import Login
from .reference import RegistryRef, is_loopback

log = logging.getLogger(__name__)
ACCEPT = ", ".join((OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST))
_CHUNK = 1 << 20
_RETRIES = 2


class RegistryStore:
    def __init__(self, ref: RegistryRef, login: Login | None, *, insecure: bool = False, push: bool = False) -> None:
        self.ref, self.name = ref, str(ref)
        self.scope = f"repository:{ref.repository}:{'pull,push' if push else 'pull'}"
        self.insecure = insecure
        context = ssl.create_default_context()
        if insecure:
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        self._opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context))
        self.auth = Authorizer(ref.registry, login, self._opener, self._plain_http_ok)
        self._base: str | None = None

    def _plain_http_ok(self, host: str) -> bool:
        return self.insecure or is_loopback(host)

    # Store interface
    def resolve(self) -> tuple[bytes, str]:
        return self._get_manifest(self.ref.reference, self.ref.digest)

    def manifest(self, digest: str) -> tuple[bytes, str]:
        return self._get_manifest(digest, digest)

    def has_blob(self, digest: str) -> bool:
        status, _, _ = self._call("HEAD", f"blobs/{digest}", ok=(200, 404))
        return status == 200

    def get_blob(self, digest: str, target: Path) -> None:
        with self._open("GET", f"blobs/{digest}") as response, target.open("wb") as out:
            try:
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    out.write(chunk)
            except (http.client.HTTPException, ConnectionError, TimeoutError) as err:
                raise FetchError(f"{self.ref.registry}: the download of {digest} broke off ({_reason(err)})",
                                 hint="run the same command again: what was verified stays in the cache") from err

    def put_blob(self, digest: str, path: Path, size: int) -> None:
        _, headers, _ = self._call("POST", "blobs/uploads/", ok=(202,), body=lambda: b"")
        location = headers.get("Location")
        if not location:
            raise FetchError(f"{self.ref.registry} started an upload without a Location header")
        url = urllib.parse.urljoin(self._url(""), location)
        url += ("&" if "?" in url else "?") + urllib.parse.urlencode({"digest": digest})
        _, headers, _ = self._call("PUT", url, ok=(201,), body=lambda: path.open("rb"),
                                   headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)})
        stored = headers.get("Docker-Content-Digest")
        if stored and stored != digest:
            raise IntegrityError(f"{self.ref.registry} stored the blob {digest} as {stored}")

    def tagged(self, digest: str) -> bool:
        status, headers, _ = self._call("HEAD", f"manifests/{self.ref.reference}", ok=(200, 404),
                                        headers={"Accept": ACCEPT})
        return status == 200 and headers.get("Docker-Content-Digest") == digest

    def put_manifest(self, data: bytes, media_type: str, platform: dict[str, str]) -> None:
        _, headers, _ = self._call("PUT", f"manifests/{self.ref.reference}", ok=(201,), body=lambda: data,
                                   headers={"Content-Type": media_type, "Content-Length": str(len(data))})
        stored = headers.get("Docker-Content-Digest")
        if stored and stored != digest_of(data):
            raise IntegrityError(f"{self.ref.registry} stored the manifest as {stored}, not {digest_of(data)}: "
                                 "it changed the bytes on the way")

    # plumbing
    def _get_manifest(self, reference: str, expected: str | None) -> tuple[bytes, str]:
        _, headers, data = self._call("GET", f"manifests/{reference}", headers={"Accept": ACCEPT}, read=True)
        actual = digest_of(data)
        claimed = expected or headers.get("Docker-Content-Digest")
        if claimed and claimed != actual:
            raise IntegrityError(f"{self.name}: the manifest received hashes to {actual}, not {claimed}")
        media_type = (headers.get("Content-Type") or "").split(";")[0].strip()
        try:
            media_type = json.loads(data).get("mediaType") or media_type
        except (ValueError, AttributeError) as err:
            raise IntegrityError(f"{self.name}: the manifest is not JSON") from err
        return data, media_type

    def _url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self._base_url()}/v2/{self.ref.repository}/{path}" if path else f"{self._base_url()}/v2/"

    def _base_url(self) -> str:
        if self._base is None:
            self._base = self._ping()
        return self._base

    def _ping(self) -> str:
        schemes = ("https", "http") if self._plain_http_ok(self.ref.api_host) else ("https",)
        last: Exception | None = None
        for scheme in schemes:
            base = f"{scheme}://{self.ref.api_host}"
            try:
                with self._opener.open(urllib.request.Request(f"{base}/v2/"), timeout=TIMEOUT):
                    return base
            except urllib.error.HTTPError as err:
                if err.code == 401:
                    self.auth.answer(err.headers.get_all("WWW-Authenticate") or [], self.scope)
                    return base
                last = err
                if err.code != 400:  # a plain-HTTP server's answer to TLS bytes is 400 or a TLS error
                    break
            except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
                last = err
        hint = None if len(schemes) == 2 else f"for a registry without TLS, pass --insecure (only if you trust {self.ref.registry})"
        raise FetchError(f"{self.ref.registry}: not reachable as an OCI registry ({_reason(last)})", hint=hint)

    def _open(self, method: str, path: str, *, body: Callable[[], Any] | None = None,
              headers: dict[str, str] | None = None, ok: tuple[int, ...] = (200,)):
        """The response (to read and close), after answering at most one auth challenge."""
        url = self._url(path)
        answered = False
        for attempt in range(_RETRIES + 1):
            data = body() if body else None
            request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
            authorization = self.auth.current(self.scope)
            if authorization:
                request.add_unredirected_header("Authorization", authorization)
            log.debug("%s %s", method, _kind(url))
            try:
                response = self._opener.open(request, timeout=TIMEOUT)
            except urllib.error.HTTPError as err:
                if err.code in ok:
                    return err
                if err.code == 401 and not answered:
                    answered = True
                    self.auth.answer(err.headers.get_all("WWW-Authenticate") or [], self.scope)
                    continue
                if err.code == 401:
                    raise self.auth.refused(self.scope, _detail(err)) from err
                if err.code >= 500 and method in ("GET", "HEAD") and attempt < _RETRIES:
                    time.sleep(0.5 * (attempt + 1))
                    continue
                raise self._failed(method, url, err) from err
            except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
                if method in ("GET", "HEAD") and attempt < _RETRIES:
                    time.sleep(0.5 * (attempt + 1))
                    continue
                raise FetchError(f"{self.ref.registry}: {method} {_kind(url)} failed ({_reason(err)})") from err
            finally:
                if hasattr(data, "close"):
                    data.close()
            if response.status not in ok:
                response.close()
                raise FetchError(f"{self.ref.registry}: {method} {_kind(url)} answered HTTP {response.status}")
            return response
        raise FetchError(f"{self.ref.registry}: {method} {_kind(url)} kept failing")

    def _call(self, method: str, path: str, *, read: bool = False, **kwargs) -> tuple[int, Any, bytes]:
        response = self._open(method, path, **kwargs)
        try:
            data = response.read() if read else b""
            return response.code, response.headers, data
        finally:
            response.close()

    def _failed(self, method: str, url: str, err: urllib.error.HTTPError) -> FetchError:
        what = f"{method} {_kind(url)}"
        if err.code == 404:
            return FetchError(f"{self.name}: not found in {self.ref.registry} ({what}: {_detail(err)})")
        if err.code == 403:
            who = f" {self.auth.login.username}" if self.auth.login and self.auth.login.username else ""
            return FetchError(f"{self.ref.registry} denied{who} access to {self.ref.repository} ({_detail(err)})",
                              hint="check that this login may push/pull this repository")
        return FetchError(f"{self.ref.registry}: {what} answered {_detail(err)}")


def _kind(url: str) -> str:
    """``blobs/sha256:abc...``-style names for messages and request counts (no query: it may hold state)."""
    path = urllib.parse.urlsplit(url).path
    marker = next((m for m in ("/blobs/uploads/", "/blobs/", "/manifests/") if m in path), None)
    if marker is None:
        return path
    rest = path.split(marker, 1)[1]
    return marker.strip("/") + ("" if marker == "/blobs/uploads/" else f" {rest}")


def _detail(err: urllib.error.HTTPError) -> str:
    """``HTTP 401: UNAUTHORIZED: authentication required`` (a HEAD answer has no body: then the
    challenge's ``error``, e.g. ``insufficient_scope``)."""
    text = _errors(err)
    if not text:
        challenge = parse_challenge(err.headers.get("WWW-Authenticate") or "") if err.headers else None
        text = challenge.params.get("error", "") if challenge else ""
    return f"HTTP {err.code}" + (f": {text}" if text else "")


def _errors(err: urllib.error.HTTPError) -> str:
    try:
        data = json.loads(err.read() or b"{}")
        parts = [f"{e.get('code')}: {e.get('message')}" for e in data.get("errors", [])]
    except (ValueError, AttributeError, OSError):
        parts = []
    return redact("; ".join(parts))


def _reason(err: Exception | None) -> str:
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code}"
    reason = getattr(err, "reason", err)
    return redact(str(reason))

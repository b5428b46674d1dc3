"""Answering a registry's ``WWW-Authenticate`` challenge: HTTP basic, or a bearer token.

The token flow is the one Docker Hub, GHCR, Quay and distribution's ``auth: token`` use:
``Bearer realm="https://auth.example/token",service="registry.example",scope="repository:r:pull"``
-> ``GET realm?service=...&scope=...`` (with the login as basic auth, or anonymously) ->
``{"token": ...}`` (or ``access_token``), sent as ``Authorization: Bearer ...``. An identity token
(docker's ``identitytoken``) is exchanged with ``POST realm`` (``grant_type=refresh_token``).

Every credential and token is registered as a secret; the login goes only to the registry and to
the realm it names, never over plain HTTP unless that host is loopback or marked insecure.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import FetchError
from ..secrets import Secret, redact, register
from .credentials import Login

TIMEOUT = 60.0
_PARAM = re.compile(r'([A-Za-z_][\w-]*)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)')


@dataclass(frozen=True)
class Challenge:
    scheme: str  # lowercase: "basic" | "bearer" | other
    params: dict[str, str]


def parse_challenge(header: str) -> Challenge:
    scheme, _, rest = header.strip().partition(" ")
    params = {k.lower(): (v[1:-1].replace('\\"', '"') if v.startswith('"') else v) for k, v in _PARAM.findall(rest)}
    return Challenge(scheme.lower(), params)


class Authorizer:
    """Remembers the ``Authorization`` value per scope; asks for a new one when challenged."""

    def __init__(self, registry: str, login: Login | None, opener: urllib.request.OpenerDirector,
                 plain_http_ok: Callable[[str], bool]) -> None:
        self.registry, self.login, self._opener, self._plain_http_ok = registry, login, opener, plain_http_ok
        self._values: dict[str, str] = {}

    def current(self, scope: str) -> str | None:
        return self._values.get(scope)

    def answer(self, headers: list[str], scope: str) -> str:
        """A new ``Authorization`` value for ``scope`` from the challenge(s) of a 401 response."""
        challenges = [parse_challenge(h) for h in headers if h.strip()]
        bearer = next((c for c in challenges if c.scheme == "bearer"), None)
        if bearer is not None:
            value = f"Bearer {self._token(bearer, scope)}"
        elif any(c.scheme == "basic" for c in challenges):
            value = self._basic()
        else:
            raise FetchError(f"{self.registry} asked for an authentication scheme materialize does not speak "
                             f"({', '.join(c.scheme for c in challenges) or 'no WWW-Authenticate header'})")
        register(value)
        self._values[scope] = value
        return value

    def refused(self, scope: str, detail: str) -> FetchError:
        """The error for a 401 that came back although we sent a fresh answer."""
        if self.login is None:
            return self._no_login(detail)
        who = f" for {self.login.username}" if self.login.username else ""
        return FetchError(f"{self.registry} refused the login{who} ({detail}; {scope})",
                          hint=f"check the credentials from {self.login.source}")

    def _no_login(self, detail: str) -> FetchError:
        return FetchError(f"{self.registry} requires a login ({detail}) and no credentials for it were found",
                          hint="log in with 'podman login' or 'docker login', or pass --username USER "
                               "--password-stdin (see the README's Credentials section)")

    def _basic(self) -> str:
        if self.login is None or self.login.password is None or self.login.username is None:
            raise self._no_login("HTTP 401, basic authentication")
        token = base64.b64encode(f"{self.login.username}:{self.login.password.reveal()}".encode()).decode()
        register(token)
        return f"Basic {token}"

    def _token(self, challenge: Challenge, scope: str) -> str:
        realm = challenge.params.get("realm")
        if not realm:
            raise FetchError(f"{self.registry} sent a bearer challenge without a realm")
        parts = urllib.parse.urlsplit(realm)
        if parts.scheme != "https" and not (parts.scheme == "http" and self._plain_http_ok(parts.netloc)):
            raise FetchError(f"{self.registry} names a token service over plain HTTP ({redact(realm)}); refusing "
                             "to send a login there", hint="use --insecure only for a registry you trust")
        query = {k: v for k, v in (("service", challenge.params.get("service")),
                                   ("scope", challenge.params.get("scope") or scope)) if v}
        login = self.login
        if login is not None and login.identity_token is not None:
            form = {**query, "grant_type": "refresh_token", "client_id": "materialize",
                    "refresh_token": login.identity_token.reveal()}
            request = urllib.request.Request(realm, data=urllib.parse.urlencode(form).encode(), method="POST")
        else:
            separator = "&" if parts.query else "?"
            request = urllib.request.Request(realm + separator + urllib.parse.urlencode(query))
            if login is not None and login.username is not None and login.password is not None:
                request.add_unredirected_header("Authorization", self._basic())
        return self._fetch_token(request, query.get("scope", scope))

    def _fetch_token(self, request: urllib.request.Request, scope: str) -> str:
        try:
            with self._opener.open(request, timeout=TIMEOUT) as response:
                data = json.loads(response.read())
        except urllib.error.HTTPError as err:
            if err.code in (401, 403):
                raise self.refused(scope, f"its token service answered HTTP {err.code}") from err
            raise FetchError(f"{self.registry}: the token service answered HTTP {err.code}") from err
        except (urllib.error.URLError, OSError, ValueError) as err:
            raise FetchError(f"{self.registry}: could not get a token ({redact(str(err))})") from err
        token = data.get("token") or data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise FetchError(f"{self.registry}: the token service's answer holds no token")
        return Secret(token).reveal()  # registered: never printed

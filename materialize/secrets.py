"""Secrets have a type: a `Secret` prints as ``****``, and `redact` scrubs every known secret from text.

Every password or token the tool reads (pip.conf URLs, ${VAR} expansions, netrc entries) is
registered here, so that logs, error messages and stderr captured from child processes can be
scrubbed in one place before anything reaches the user.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urlsplit, urlunsplit

MASK = "****"
_KNOWN: set[str] = set()
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]{0,63}://)(?P<userinfo>[^/@\s]+)@")  # bounded: linear on long lines


class Secret:
    """A value whose ``str()`` and ``repr()`` never show it; ``reveal()`` does, on purpose."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        register(value)

    def reveal(self) -> str:
        return self._value

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"Secret({MASK})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def register(value: str | None) -> None:
    """Remember a secret (and its percent-encoded forms) so that `redact` removes it anywhere."""
    if value and len(value) >= 3:
        _KNOWN.update({value, quote(value, safe=""), unquote(value)})


def redact(text: str) -> str:
    """Remove URL userinfo and every registered secret from ``text``."""
    text = _USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)
    for value in sorted(_KNOWN, key=len, reverse=True):
        if value in text:
            text = text.replace(value, MASK)
    return text


def split_credentials(url: str) -> tuple[str, str | None, Secret | None]:
    """``https://u:p@host/x`` -> (``https://host/x``, ``u``, Secret(``p``)). Registers both parts."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    user = unquote(user)
    secret = Secret(unquote(password)) if password else None
    if secret is None and user:
        register(user)  # a bare token in the user position (https://TOKEN@host) is the secret itself
    return urlunsplit(parts._replace(netloc=hostport)), user or None, secret

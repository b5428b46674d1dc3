"""Secrets have a type: a `Secret` prints as ``****``, `redact` scrubs every known secret from text,
and `Credentials` holds logins by origin (scheme, host and port), as pip and uv scope URL credentials.

Every password or token the tool reads (pip.conf URLs, requirement URLs, ${VAR} expansions) is
registered here the moment it is split off its URL, before anything parses that URL, so that an
error raised while parsing it (urllib, idna, packaging) is scrubbed too. Logs, error messages,
``--json`` and stderr captured from child processes all pass through `redact`, which runs in time
linear in the length of the text.

URLs are split by hand, not with ``urllib.parse``: ``urlsplit`` refuses a netloc whose NFKC form
holds a delimiter (a fullwidth ``＃`` in a password) and quotes the netloc, password included, in
its error. Here the userinfo is the text between ``://`` and the last ``@`` before the first
``/``, ``?``, ``#`` or whitespace, as pip and uv read it.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

MASK = "****"
_KNOWN: set[str] = set()
_ORDERED: list[str] = []  # _KNOWN, longest first (a secret containing another is replaced first)
_AUTHORITY_END = re.compile(r"[/?#\s\"'<>\\`]")
_VARIABLE_USERINFO = re.compile(r"(?:[^:]*:)?\$\{[A-Za-z_][A-Za-z0-9_]*\}")  # ${TOKEN} or user:${TOKEN}
_NETLOC_QUOTE = re.compile(r"netloc '[^'@\s]*@")  # urllib's "netloc 'user:pass@host' contains invalid ..."
DEFAULT_PORTS = {"http": "80", "https": "443", "ssh": "22", "ftp": "21"}


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
    if not value or len(value) < 3:
        return
    forms = {value, quote(value, safe=""), quote(value), unquote(value)}
    if forms - _KNOWN:
        _KNOWN.update(forms)
        _ORDERED[:] = sorted(_KNOWN, key=len, reverse=True)


def register_login(user: str, password: Secret | None) -> None:
    """A login as it may travel: the base64 of ``user:password`` (an Authorization header) too."""
    secret = password.reveal() if password is not None else ""
    if secret or len(user) >= 3:
        register(base64.b64encode(f"{user}:{secret}".encode()).decode())


def is_secret(value: str) -> bool:
    """True for a registered secret (an environment variable holding one is kept from children)."""
    return value in _KNOWN


def redact(text: str) -> str:
    """Remove URL userinfo (``${VAR}`` references excepted) and every registered secret from ``text``."""
    text = _mask_userinfo(_NETLOC_QUOTE.sub(f"netloc '{MASK}@", text))
    for value in _ORDERED:
        if value in text:
            text = text.replace(value, MASK)
    return text


def _mask_userinfo(text: str) -> str:
    """``scheme://user:pass@host`` -> ``scheme://****@host``: each character is looked at a bounded
    number of times (the scan resumes where the previous authority ended)."""
    if "@" not in text:
        return text
    out, kept = [], 0
    found = text.find("://")
    while found != -1:
        begin = found + 3
        end_match = _AUTHORITY_END.search(text, begin)
        end = end_match.start() if end_match else len(text)
        at = text.rfind("@", begin, end)
        if at != -1 and not _VARIABLE_USERINFO.fullmatch(text, begin, at) and not _ssh_user(text, found, at):
            out += [text[kept:begin], MASK]
            kept = at
        found = text.find("://", max(end - 1, begin))  # a "://" may start right at the authority's end
    out.append(text[kept:])
    return "".join(out)


def _authority(url: str) -> tuple[int, int, int] | None:
    """(start of the authority, index of its last '@' or -1, its end), or None for a URL without ``://``.
    An ``ssh://git@host`` user name is no login (ssh authenticates with keys): '@' is then -1."""
    found = url.find("://")
    if found == -1:
        return None
    begin = found + 3
    end_match = _AUTHORITY_END.search(url, begin)
    end = end_match.start() if end_match else len(url)
    at = url.rfind("@", begin, end)
    if at != -1 and _ssh_user(url, found, at):
        at = -1
    return begin, at, end


def _ssh_user(text: str, found: int, at: int) -> bool:
    """True for ``ssh://user@`` or ``git+ssh://user@`` (a user name without a password)."""
    return text[max(0, found - 3):found].lower() == "ssh" and ":" not in text[found + 3:at]


def split_credentials(url: str) -> tuple[str, str | None, Secret | None]:
    """``https://u:p@host/x`` -> (``https://host/x``, ``u``, Secret(``p``)). Registers the secret parts.

    A bare userinfo (``https://TOKEN@host``) is a token in the user position: it is registered too."""
    parts = _authority(url)
    if parts is None or parts[1] == -1:
        return url, None, None
    begin, at, _ = parts
    userinfo = url[begin:at]
    register(userinfo)
    user, colon, password = userinfo.partition(":")
    user = unquote(user)
    secret = Secret(unquote(password)) if password else None
    if not colon:
        register(user)
    clean = url[:begin] + url[at + 1:]
    if user:
        register_login(user, secret)
    return clean, user or None, secret


def strip_credentials(url: str) -> str:
    """The URL without its userinfo."""
    parts = _authority(url)
    return url if parts is None or parts[1] == -1 else url[:parts[0]] + url[parts[1] + 1:]


def has_literal_credentials(url: str) -> bool:
    """True when the URL's userinfo holds more than ``${VAR}`` references (``user:${VAR}`` is not literal)."""
    parts = _authority(url)
    return parts is not None and parts[1] != -1 and not _VARIABLE_USERINFO.fullmatch(url, parts[0], parts[1])


def strip_literal_credentials(url: str) -> str:
    """The URL without literal userinfo; ``${VAR}`` references (expanded at install) are kept."""
    return strip_credentials(url) if has_literal_credentials(url) else url


def origin(url: str) -> str | None:
    """``git+https://tok@Host:443/r.git`` -> ``https://host``: scheme, host and port (default port
    left out), the scope of a credential. None for a URL without ``scheme://``."""
    parts = _authority(url)
    if parts is None:
        return None
    scheme = url[: parts[0] - 3].lower().rpartition("+")[2]
    hostport = url[max(parts[1] + 1, parts[0]): parts[2]].lower()
    if hostport.startswith("["):
        host, _, tail = hostport.partition("]")
        host, port = host + "]", tail[1:] if tail.startswith(":") else ""
    else:
        host, _, port = hostport.partition(":")
    if not port or port == DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


@dataclass(frozen=True)
class Login:
    user: str
    password: Secret | None
    where: str = ""  # where it was given: "pip.conf:2", "requirements.txt:3", "~/.docker/config.json"
    literal: bool = False  # written in clear in a project file (not as ${VAR})

    def basic_auth(self) -> str:
        """The ``Authorization`` header value (registered for redaction)."""
        secret = self.password.reveal() if self.password is not None else ""
        token = base64.b64encode(f"{self.user}:{secret}".encode()).decode()
        register(token)
        return f"Basic {token}"


@dataclass
class Credentials:
    """Logins by origin (``scheme://host[:port]``): a login is only ever given to its own origin."""

    logins: dict[str, Login] = field(default_factory=dict)

    def add(self, origin_key: str, user: str, password: Secret | None, where: str = "", literal: bool = False) -> None:
        """The first login given for an origin wins, as in pip (the index URL's own credentials first)."""
        register_login(user, password)
        self.logins.setdefault(origin_key, Login(user, password, where, literal))

    def add_url(self, url: str, where: str = "", literal: bool = False) -> str:
        """Remember the userinfo of ``url`` (any scheme, ``git+https`` too); return the URL without it.
        ``literal``: the URL was written with this userinfo in clear (not as ${VAR})."""
        clean, user, password = split_credentials(url)
        key = origin(clean)
        if key is not None and (user is not None or password is not None):
            self.add(key, user or "", password, where, literal)
        return clean

    add_url_in_vcs = add_url  # the name callers used for git URLs; origin() drops the "git+" already

    def lookup(self, url: str) -> Login | None:
        """The login for exactly this URL's scheme, host and port, if any."""
        key = origin(url)
        return self.logins.get(key) if key is not None else None

    def only(self, origins) -> "Credentials":
        """The subset a child needs: the logins of these origins."""
        wanted = set(origins)
        return Credentials({k: v for k, v in self.logins.items() if k in wanted})

    def __bool__(self) -> bool:
        return bool(self.logins)


def login_hint(origin_key: str, *, git: bool = False) -> str:
    """The ways to give a login for ``origin_key`` that materialize reads."""
    scheme, _, hostport = origin_key.partition("://")
    host = hostport.rpartition("]")[0] + "]" if hostport.startswith("[") else hostport.partition(":")[0]
    example = (f"git+{scheme}://${{TOKEN}}@{hostport}/REPO.git" if git
               else f"{scheme}://USER:${{PASSWORD}}@{hostport}/...")
    where = "requirements.txt" if git else "pip.conf or requirements.txt"
    ways = (f"give the login for {origin_key} as ${{VARIABLES}} in the URL in {where} ({example}, the variable "
            f"from the environment or the project's .env), or in ~/.netrc (machine {host} login USER password ...; "
            "a netrc entry holds for every port of that host)")
    return ways + (", or with a git credential helper" if git else "")

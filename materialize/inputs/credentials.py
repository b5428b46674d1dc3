"""The logins a project gives, and what the lockfile says about them (never the logins themselves).

Logins come from URL userinfo in pip.conf, in requirements-file options (``--index-url``,
``--extra-index-url``, ``--find-links``) and in requirement URLs (git, direct URLs), written in clear
or as ``${VAR}`` (from the environment or ``.env``). Each is kept by origin (scheme, host and port:
`materialize.secrets.Credentials`) and reaches children only through ``engines/child_auth.py``.

The lockfile records every URL without literal userinfo; ``${VAR}`` references stay, to be expanded
at install time. Its ``materialize.credentials`` metadata lists the origins that needed a login at
lock time, where it was given and in which form, so that an install that has no way to authenticate
stops before it touches the prefix (exit 5) and says how to give one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..errors import InputError
from ..secrets import Credentials, has_literal_credentials, login_hint
from .requirements import Entry
from .variables import expand

__all__ = ["Credentials", "collect_from_entries", "lock_notes", "literal_warnings"]


def collect_from_entries(entries: Iterable[Entry], variables: Mapping[str, str], credentials: Credentials) -> None:
    """The logins in git and direct-URL requirements. A line whose ${VAR} is unset gives none here
    (locking that line reports the missing variable; an install says which login it lacks)."""
    for entry in entries:
        if entry.kind not in ("vcs", "url"):
            continue
        try:
            text = expand(entry.text, dict(variables), entry.where)
        except InputError:
            continue
        url = text.partition(" @ ")[2] if " @ " in text else text
        credentials.add_url(url.split()[0] if url.split() else url, entry.where,
                            literal=has_literal_credentials(entry.text))


def lock_notes(credentials: Credentials) -> list[dict[str, str]]:
    """What the lockfile records: origin, where the login was given, ``literal`` or ``variable``."""
    return [{"origin": key, "where": login.where, "form": "literal" if login.literal else "variable"}
            for key, login in sorted(credentials.logins.items())]


def literal_warnings(credentials: Credentials, git_origins: Iterable[str] = ()) -> list[str]:
    """One line per login written in clear: the lockfile leaves it out; how to give it at install."""
    git = set(git_origins)
    lines = []
    for key, login in sorted(credentials.logins.items()):
        if login.literal:
            lines.append(f"{login.where}: the login for {key} is written in clear; the lockfile records the URL "
                         f"without it. For an install elsewhere, {login_hint(key, git=key in git)}")
    return lines

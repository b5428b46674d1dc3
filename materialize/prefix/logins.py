"""Before an install changes anything: every download from an origin that needed a login at lock time
(the lockfile's ``materialize.credentials``) has a way to authenticate here, or the install stops
with exit 5 saying how to give one. ``${VAR}`` references in the lockfile's URLs must be set too.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .. import cache
from ..engines import child_auth, fetch
from ..errors import FetchError, InputError
from ..inputs.requirements import expand
from ..lockfile import Lock, PipEntry
from ..secrets import Credentials, login_hint, origin, strip_literal_credentials
from . import state as prefix_state


def require(lock: Lock, pip: list[PipEntry], wheels: list[PipEntry], prefix: Path, rebuild: bool,
            variables: Mapping[str, str], credentials: Credentials) -> None:
    """``pip``: this platform's PyPI entries; ``wheels``: the hashed ones this install fetches."""
    required = {note.get("origin") for note in lock.credentials}
    if not required and not any("${" in e.url for e in pip):
        return
    record = {} if rebuild else prefix_state.read_pypi(prefix)
    git = [e for e in pip if not e.sha256 and record.get(e.name) != strip_literal_credentials(e.url)]
    downloads = [(e, False) for e in wheels if not fetch.cached_path(e.url, e.sha256, cache.WHEELS).is_file()]
    missing = []
    for entry, is_git in downloads + [(e, True) for e in git]:
        url = _expanded(entry, variables)
        key = origin(url)
        if key in required and not child_auth.has_login(url, credentials, git=is_git):
            missing.append((entry.name, key, is_git))
    if missing:
        names = "; ".join(f"{name} from {key}" for name, key, _ in missing)
        first = missing[0]
        raise FetchError(f"no login at hand for {names} (the lockfile says it needed one); nothing was changed",
                         hint=login_hint(first[1], git=first[2]))


def _expanded(entry: PipEntry, variables: Mapping[str, str]) -> str:
    try:
        return expand(entry.url, dict(variables), "lockfile")
    except InputError as err:
        raise FetchError(f"{entry.name}: {err.message.removeprefix('lockfile: ')}; nothing was changed",
                         hint=err.hint) from err

"""Before an install changes anything: every download from an origin that needed a login at lock time
(the lockfile's ``materialize.credentials``) has a way to authenticate here, or the install stops
with exit 5 saying how to give one. ``${VAR}`` references in the lockfile's URLs must be set too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .. import cache
from ..engines import child_auth, fetch
from ..errors import FetchError, InputError
from ..inputs.variables import expand
from ..secrets import login_hint, origin
from .desired import PypiWant
from .project_inputs import ProjectInputs


def require(notes: Iterable[Mapping[str, str]], wants: list[PypiWant], inputs: ProjectInputs) -> None:
    """``wants``: the PyPI packages this install (re)installs."""
    required = {note.get("origin") for note in notes}
    if not required and not any("${" in w.url for w in wants):
        return
    variables, credentials = inputs.variables, inputs.credentials
    downloads = [(w, False) for w in wants
                 if w.sha256 and not fetch.cached_path(w.url, w.sha256, cache.WHEELS).is_file()]
    missing = []
    for want, is_git in downloads + [(w, True) for w in wants if w.kind == "vcs"]:
        url = _expanded(want, variables)
        key = origin(url)
        if key in required and not child_auth.has_login(url, credentials, git=is_git):
            missing.append((want.name, key, is_git))
    if missing:
        names = "; ".join(f"{name} from {key}" for name, key, _ in missing)
        _, key, is_git = missing[0]
        raise FetchError(f"no login at hand for {names} (the lockfile says it needed one); nothing was changed",
                         hint=login_hint(key, git=is_git))


def _expanded(want: PypiWant, variables: Mapping[str, str]) -> str:
    try:
        return expand(want.url, dict(variables), "lockfile")
    except InputError as err:
        raise FetchError(f"{want.name}: {err.message.removeprefix('lockfile: ')}; nothing was changed",
                         hint=err.hint) from err

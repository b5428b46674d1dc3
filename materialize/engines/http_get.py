"""One HTTP(S) GET into a file object, with the project's logins: Basic auth for exactly the URL's
origin, the netrc for the URL first asked for, a fresh choice at every redirect. Its own module:
urllib.request and http.client take ~30 ms to import, which an install from a warm cache skips."""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from ..errors import FetchError
from ..secrets import login_hint, origin, redact
from .fetch import CHUNK, netrc_login


def copy(url: str, out, credentials) -> None:
    """Write the body at ``url`` (no login in it) to ``out``; a failure is a FetchError, redacted."""
    request = urllib.request.Request(url, headers={"User-Agent": "materialize"})
    _authorize(request, credentials, netrc_too=True)
    opener = urllib.request.build_opener(_Redirect(credentials, origin(url)))
    try:
        with opener.open(request, timeout=60) as response:
            shutil.copyfileobj(response, out, CHUNK)
    except urllib.error.HTTPError as err:
        hint = login_hint(origin(err.url or url) or url) if err.code in (401, 403) else None
        raise FetchError(f"downloading {redact(url)} failed: HTTP {err.code} {err.reason}", hint=hint) from err
    except (urllib.error.URLError, OSError, ValueError, UnicodeError) as err:
        reason = getattr(err, "reason", err)
        raise FetchError(f"downloading {redact(url)} failed: {redact(str(reason))}") from err


class _Redirect(urllib.request.HTTPRedirectHandler):
    """A redirect carries a login only to the origin it belongs to (urllib already drops the
    unredirected Authorization header): the new URL is authorized afresh, by its own origin."""

    def __init__(self, credentials, first_origin: str | None) -> None:
        super().__init__()
        self._credentials, self._first_origin = credentials, first_origin

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None:
            _authorize(new, self._credentials, netrc_too=origin(new.full_url) == self._first_origin)
        return new


def _authorize(request: urllib.request.Request, credentials, *, netrc_too: bool) -> None:
    """Basic auth from the project's login for exactly this scheme, host and port; else (for the
    URL first asked for, or a redirect within its origin) from the netrc, which knows hosts only, as
    pip and uv read it. An unredirected header: urllib drops it on every redirect."""
    lookup = getattr(credentials, "lookup", None)
    login = lookup(request.full_url) if lookup is not None else None
    if login is None and netrc_too:
        login = netrc_login(urlsplit(request.full_url).hostname or "")
    if login is not None:
        request.add_unredirected_header("Authorization", login.basic_auth())

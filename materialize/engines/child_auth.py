"""Credentials for one child call (uv, and the git that uv runs): never in its argv, its environment
or a file, and only for the origins it needs, only while it runs.

A thread of ours serves a Unix socket in a private folder (``scratch.private_dir``, 0700). It answers
a request for exactly one origin (scheme, host and port) with that origin's login, and nothing for
any other origin; it stops, and its folder goes, when the call ends. Two clients reach it:

- **git** runs ``git credential-cache --socket PATH get`` (git's own cache client, which speaks this
  protocol), configured per origin through ``GIT_CONFIG_COUNT``/``GIT_CONFIG_KEY_n``/``_VALUE_n``
  (no config file; the user's own helpers keep working for every other origin). For our origins the
  helper list is reset first, so that no helper of the user's is asked for, or told to store, our
  login. git's credential protocol sends ``host:port``, and curl drops the Authorization header on a
  redirect to another origin.
- **uv** runs ``keyring get URL --mode creds`` (``--keyring-provider subprocess``) for an index that
  the config we hand it (``--config-file``, no secrets in it) marks ``authenticate = "always"``: the
  indexes, find-links and direct-URL origins we hold a login for. The ``keyring`` on its PATH is our
  folder's script, which asks the socket. uv keys credentials by realm (scheme, host, port) and strips
  them on a cross-origin redirect.

A kill -9 leaves the folder (a socket, a script, a config: nothing secret); ``scratch.sweep`` removes it
at the next run.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .. import scratch
from . import fetch, proc
from ..secrets import Credentials, Login, origin, split_credentials, strip_credentials

_SHIM = r'''#!{python} -IS
"""uv's keyring provider for materialize: asks the run's credential socket; exact origins only."""
import re, socket, sys
args = sys.argv[1:]
if len(args) < 2 or args[0] != "get" or "://" not in args[1]:
    sys.exit(1)
scheme, _, rest = args[1].partition("://")
host = re.split(r"[/?#]", rest, maxsplit=1)[0].rpartition("@")[2]
user = args[2] if len(args) > 2 and args[2] != "--mode" else None
request = "action=get\ntimeout=0\nprotocol=%s\nhost=%s\n" % (scheme, host) + ("username=%s\n" % user if user else "")
try:
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(30)
    client.connect({socket!r})
    client.sendall(request.encode())
    client.shutdown(socket.SHUT_WR)
    reply = b"".join(iter(lambda: client.recv(65536), b"")).decode()
except OSError:
    sys.exit(1)
fields = dict(line.split("=", 1) for line in reply.splitlines() if "=" in line)
if "password" not in fields:
    sys.exit(1)
sys.stdout.write(fields["password"] + "\n" if user else fields["username"] + "\n" + fields["password"] + "\n")
'''


SOCKET_PATH_MAX = 107  # bytes of a Unix socket's path (sun_path: 108 with the NUL)


@dataclass(frozen=True)
class ChildAuth:
    """What to add to one uv call: environment entries (no secrets) and arguments (no secrets)."""

    env: dict[str, str] = field(default_factory=dict)
    uv_args: list[str] = field(default_factory=list)


@contextmanager
def child_auth(credentials: Credentials, uv_config: str | None = None) -> Iterator[ChildAuth]:
    """Serve ``credentials`` to one child call; ``uv_config`` (uv.toml text: the indexes) is handed
    to uv as ``--config-file``."""
    if not credentials and uv_config is None:
        yield ChildAuth()
        return
    with scratch.private_dir("cred") as folder:
        args = []
        if uv_config is not None:
            (folder / "uv.toml").write_text(uv_config, encoding="utf-8")
            args += ["--config-file", str(folder / "uv.toml")]
        if not credentials:
            yield ChildAuth({}, args)
            return
        with _socket_path(folder) as socket_path, _Broker(socket_path, credentials):
            shim = folder / "bin" / "keyring"
            shim.parent.mkdir(mode=0o700)
            shim.write_text(_SHIM.format(python=sys.executable, socket=str(socket_path)))
            shim.chmod(0o700)
            env = {"PATH": f"{shim.parent}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
                   **git_config_env(credentials.logins, socket_path, os.environ)}
            yield ChildAuth(env, args + ["--keyring-provider", "subprocess"])


@contextmanager
def _socket_path(folder: Path) -> Iterator[Path]:
    """Where the broker listens: in ``folder``, or, when the temp dir's path is too long for a
    socket's (``sun_path``: 107 bytes), in a private folder of its own under `scratch.SHORT_ROOT`."""
    path = folder / "socket"
    if len(os.fsencode(path)) <= SOCKET_PATH_MAX:
        yield path
        return
    with scratch.private_dir("cred", root=scratch.SHORT_ROOT) as short:
        yield short / "socket"


def git_config_env(logins: Mapping[str, Login], socket_path: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """``credential.<origin>.helper`` = (reset), then our socket's cache client, after the caller's own
    ``GIT_CONFIG_COUNT`` entries."""
    try:
        count = int(environ.get("GIT_CONFIG_COUNT", "0") or 0)
    except ValueError:
        count = 0
    env = {}
    helper = f"cache --timeout=1 --socket {socket_path}"
    for key in sorted(k for k in logins if k.startswith(("http://", "https://"))):
        for value in ("", helper):
            env[f"GIT_CONFIG_KEY_{count}"] = f"credential.{key}.helper"
            env[f"GIT_CONFIG_VALUE_{count}"] = value
            count += 1
    env["GIT_CONFIG_COUNT"] = str(count)
    return env


class _Broker:
    """The socket server: one thread, one short request per connection (git's credential format)."""

    def __init__(self, path: Path, credentials: Credentials) -> None:
        self._logins = dict(credentials.logins)
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(path))
        os.chmod(path, 0o600)
        self._server.listen(16)
        self._server.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="materialize-credentials", daemon=True)

    def __enter__(self) -> "_Broker":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._server.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            with client:
                try:
                    self._answer(client)
                except OSError:
                    pass

    def _answer(self, client: socket.socket) -> None:
        client.settimeout(10)
        if not _same_user(client):
            return
        data = b""
        while len(data) < 65536:
            chunk = client.recv(65536)
            if not chunk:
                break
            data += chunk
        fields = dict(line.split("=", 1) for line in data.decode(errors="replace").splitlines() if "=" in line)
        if fields.get("action") != "get" or not fields.get("protocol") or not fields.get("host"):
            return
        login = self._logins.get(origin(f"{fields['protocol']}://{fields['host']}") or "")
        if login is None or fields.get("username", login.user) != login.user:
            return
        password = login.password.reveal() if login.password is not None else ""
        client.sendall(f"username={login.user}\npassword={password}\n".encode())


def _same_user(client: socket.socket) -> bool:
    """Only processes of our own user (the folder is 0700 already; this says so twice)."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return True
    import struct

    _, uid, _ = struct.unpack("3i", client.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i")))
    return uid == os.getuid()


def has_login(url: str, credentials: Credentials, *, git: bool = False) -> bool:
    """True when a child fetching ``url`` can authenticate: a login in the URL itself, the project's
    login for its origin, a netrc entry for its host, or (for git) a credential helper of the user's."""
    if split_credentials(url)[1] is not None or credentials.lookup(url) is not None:
        return True
    host = origin(url) or ""
    host = host.partition("://")[2]
    host = host.rpartition("]")[0] + "]" if host.startswith("[") else host.partition(":")[0]
    if fetch.netrc_login(host) is not None:
        return True
    if not git:
        return False
    bare = strip_credentials(url).split("#", 1)[0]
    bare = bare.partition("+")[2] if bare.startswith("git+") else bare
    done = proc.run(["git", "config", "--get-urlmatch", "credential.helper", bare], timeout=30)
    return done.returncode == 0 and bool(done.stdout.strip())

"""Registry logins from where registry users keep them; every password and token is a `Secret`.

Most specific first: ``--username`` with ``--password-stdin``; then the auth files podman and
skopeo read (``$REGISTRY_AUTH_FILE``, else ``$XDG_RUNTIME_DIR/containers/auth.json``, then
``~/.config/containers/auth.json``); then docker's (``$DOCKER_CONFIG/config.json``, else
``~/.docker/config.json``). In each file, as docker decides: a ``credHelpers`` entry for the
registry, else ``credsStore``, else ``auths`` (base64 ``auth``, or ``username``/``password``,
``identitytoken``; a key may name a repository, ``host/namespace``, and the most specific wins).

A credential helper (``docker-credential-NAME get``) is a child process that reads the server
name on stdin and answers on stdout: the secret never appears in its argv or environment.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from ..errors import FetchError, InputError, UsageError
from ..secrets import Secret, redact, register
from .reference import DOCKER_HUB

_DOCKER_HUB_KEYS = ("docker.io", "index.docker.io", "registry-1.docker.io", "https://index.docker.io/v1/")
_HELPER_TOKEN_USER = "<token>"  # a helper's way of returning an identity token


@dataclass(frozen=True)
class Login:
    username: str | None
    password: Secret | None
    source: str  # where it came from, for messages: "--username/--password-stdin", a file, a helper
    identity_token: Secret | None = None


def from_flags(username: str | None, password: Secret | None) -> Login | None:
    if username is None and password is None:
        return None
    if username is None or password is None or not password.reveal():
        raise UsageError("--username and --password-stdin go together (the password is read from stdin)",
                         hint="printf '%s' \"$PASSWORD\" | materialize push --username USER --password-stdin ...")
    return Login(username, password, "--username/--password-stdin")


def auth_files(environ: Mapping[str, str] = os.environ) -> list[Path]:
    home = Path(environ.get("HOME") or Path.home())
    files = []
    if environ.get("REGISTRY_AUTH_FILE"):
        files.append(Path(environ["REGISTRY_AUTH_FILE"]))
    elif environ.get("XDG_RUNTIME_DIR"):
        files.append(Path(environ["XDG_RUNTIME_DIR"]) / "containers" / "auth.json")
    files.append(home / ".config" / "containers" / "auth.json")
    docker = Path(environ["DOCKER_CONFIG"]) if environ.get("DOCKER_CONFIG") else home / ".docker"
    files.append(docker / "config.json")
    return files


def find(registry: str, repository: str, environ: Mapping[str, str] = os.environ) -> Login | None:
    """The login for ``registry`` (host[:port], ``docker.io`` for Docker Hub), or None (anonymous)."""
    for path in auth_files(environ):
        if not path.is_file():
            continue
        login = _from_file(path, registry, repository, environ)
        if login is not None:
            return login
    return None


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except ValueError as err:
        raise InputError.at(path, getattr(err, "lineno", None), f"not valid JSON ({err.msg if hasattr(err, 'msg') else err})") from err
    except OSError as err:
        raise InputError(f"{path}: cannot be read ({err.strerror})") from err
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object")
    return data


def _from_file(path: Path, registry: str, repository: str, environ: Mapping[str, str]) -> Login | None:
    data = _read(path)
    keys = _DOCKER_HUB_KEYS if registry == DOCKER_HUB else (registry,)
    helpers = data.get("credHelpers") or {}
    for key in keys:
        if isinstance(helpers.get(key), str):
            return _from_helper(helpers[key], key, path, environ)
    if isinstance(data.get("credsStore"), str) and data["credsStore"]:
        login = _from_helper(data["credsStore"], keys[-1] if registry == DOCKER_HUB else registry, path, environ)
        if login is not None:
            return login
    auths = {_normalize(k): v for k, v in (data.get("auths") or {}).items() if isinstance(v, dict)}
    for candidate in _candidates(keys, repository):
        if candidate in auths:
            return _from_entry(auths[candidate], candidate, path)
    return None


def _normalize(key: str) -> str:
    for scheme in ("https://", "http://"):
        if key.startswith(scheme):
            key = key[len(scheme):]
    for suffix in ("/v1/", "/v2/", "/v1", "/v2", "/"):
        if key.endswith(suffix):
            key = key[: -len(suffix)]
    return key


def _candidates(keys: tuple[str, ...], repository: str) -> list[str]:
    """``host/ns/repo``, ``host/ns``, ``host`` for each spelling of the host: most specific first."""
    parts = repository.split("/")
    found = []
    for length in range(len(parts), -1, -1):
        for key in keys:
            found.append("/".join([_normalize(key), *parts[:length]]))
    return found


def _from_entry(entry: dict, key: str, path: Path) -> Login | None:
    source = f"{path} (auths entry {key!r})"
    identity = entry.get("identitytoken")
    if isinstance(entry.get("auth"), str) and entry["auth"]:
        register(entry["auth"])
        try:
            decoded = base64.b64decode(entry["auth"], validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as err:
            raise InputError(f"{path}: the auth of {key!r} is not base64 of 'user:password'") from err
        user, sep, password = decoded.partition(":")
        if not sep:
            raise InputError(f"{path}: the auth of {key!r} is not base64 of 'user:password'")
        return Login(user, Secret(password), source, Secret(identity) if identity else None)
    if isinstance(entry.get("username"), str) and isinstance(entry.get("password"), str):
        return Login(entry["username"], Secret(entry["password"]), source)
    if isinstance(identity, str) and identity:
        return Login(None, None, source, Secret(identity))
    return None


def _from_helper(name: str, server: str, path: Path, environ: Mapping[str, str]) -> Login | None:
    from ..engines import proc

    program = f"docker-credential-{name}"
    found = shutil.which(program, path=environ.get("PATH"))
    source = f"the credential helper {program} (named in {path})"
    if found is None:
        raise FetchError(f"{source} is not on PATH", hint=f"install {program}, or remove it from {path}")
    done = proc.run([found, "get"], input=server, timeout=60, env=dict(environ))
    if done.returncode != 0:
        if "credentials not found" in (done.stdout + done.stderr).lower():
            return None
        said = redact("\n".join(done.stderr.strip().splitlines()[-3:]))  # never its stdout: a helper's secrets go there
        raise FetchError(f"{source} failed for {server} (exit {done.returncode}){': ' + said if said else ''}")
    try:
        answer = json.loads(done.stdout)
        user, secret = str(answer["Username"]), str(answer["Secret"])
    except (ValueError, KeyError, TypeError) as err:
        raise FetchError(f"{source} answered something that is not its JSON for {server}") from err
    if user == _HELPER_TOKEN_USER:
        return Login(None, None, source, Secret(secret))
    return Login(user, Secret(secret), source)

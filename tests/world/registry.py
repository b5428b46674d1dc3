"""A real OCI registry on 127.0.0.1 for tests: Debian's ``docker-registry`` (distribution 2.8).

Basic auth from an htpasswd file (bcrypt, from apache2-utils' ``htpasswd -niB``, which reads the
password on stdin: none in any argv), or bearer tokens from `token_server.TokenServer` (distribution's ``auth: token``, which
checks the RS256 signature against the server's certificate), or no auth at all. The storage
folder and the access log (one line per request) are readable, so tests can corrupt a stored
blob or count what a client sent.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from tests.world.pypi_server import free_port, stop

BINARY = "docker-registry"
START_DEADLINE = 15.0
_ACCESS = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3})')


def unavailable() -> str | None:
    """Why no registry can be started here, or None."""
    for program, package in ((BINARY, "docker-registry"), ("htpasswd", "apache2-utils")):
        if shutil.which(program) is None:
            return f"{program} is not installed (apt-get install {package}; .ci/run installs it in CI)"
    return None


@dataclass
class Request:
    method: str
    path: str
    status: int


@dataclass
class Registry:
    host: str  # "127.0.0.1:PORT"
    storage: Path
    log_file: Path
    username: str | None = None
    password: str | None = None
    extra: dict = field(default_factory=dict)

    def requests(self) -> list[Request]:
        text = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
        return [Request(m["method"], m["path"], int(m["status"])) for m in _ACCESS.finditer(text)]

    def blob_data(self, digest: str) -> Path:
        hex_ = digest.split(":", 1)[1]
        return self.storage / "docker" / "registry" / "v2" / "blobs" / "sha256" / hex_[:2] / hex_ / "data"

    def write_auth_file(self, path: Path, password: str | None = None) -> Path:
        """A containers-auth.json / docker config.json holding this registry's login."""
        token = base64.b64encode(f"{self.username}:{password or self.password}".encode()).decode()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"auths": {self.host: {"auth": token}}}))
        path.chmod(0o600)
        return path


def _htpasswd(path: Path, username: str, password: str) -> Path:
    done = subprocess.run(["htpasswd", "-niB", "-C", "5", username], input=password, capture_output=True, text=True,
                          check=True, timeout=30)
    path.write_text(done.stdout.strip() + "\n")
    return path


def _config(tmp: Path, address: str, port: int, auth: str | None) -> str:
    lines = ["version: 0.1", "log:", "  level: warn", "  accesslog:", "    disabled: false", "storage:",
             f"  filesystem: {{rootdirectory: {tmp / 'storage'}}}", "  delete: {enabled: true}", "http:",
             f"  addr: {address}:{port}"]
    if auth:
        lines += ["auth:", *(f"  {line}" for line in auth.splitlines())]
    return "\n".join(lines) + "\n"


def _wait(proc: subprocess.Popen, registry: Registry, out: Path) -> None:
    deadline = time.monotonic() + START_DEADLINE
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{BINARY} exited with {proc.returncode}:\n{out.read_text(errors='replace')}")
        try:
            urllib.request.urlopen(f"http://{registry.host}/v2/", timeout=1).close()
            return
        except urllib.error.HTTPError:
            return  # 401: up, and asking for a login
        except (urllib.error.URLError, OSError):
            time.sleep(0.05)
    raise RuntimeError(f"{BINARY} did not answer within {START_DEADLINE}s:\n{out.read_text(errors='replace')}")


@contextlib.contextmanager
def start_registry(tmp: Path, *, basic: tuple[str, str] | None = None, token_auth: str | None = None,
                   address: str = "127.0.0.1") -> Iterator[Registry]:
    """Serve a registry until the block exits. ``basic``: htpasswd login; ``token_auth``: the
    ``auth: token`` block (see token_server.TokenServer.registry_auth); ``address``: where it
    listens (and the host clients name)."""
    tmp.mkdir(parents=True, exist_ok=True)
    auth = None
    if basic:
        auth = f"htpasswd: {{realm: materialize-tests, path: {_htpasswd(tmp / 'htpasswd', *basic)}}}"
    elif token_auth:
        auth = token_auth
    port = free_port()
    (tmp / "config.yml").write_text(_config(tmp, address, port, auth))
    registry = Registry(f"{address}:{port}", tmp / "storage", tmp / "access.log",
                        *(basic or (None, None)))
    with open(registry.log_file, "wb") as out:
        proc = subprocess.Popen([shutil.which(BINARY) or BINARY, "serve", str(tmp / "config.yml")],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait(proc, registry, registry.log_file)
        yield registry
    finally:
        stop(proc, timeout=10)

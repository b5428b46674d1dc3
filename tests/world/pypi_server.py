"""A real PyPI simple index on 127.0.0.1 for tests: pypiserver 2.x in a subprocess.

Never redirects to pypi.org (`--disable-fallback`). The `simple-dir` backend
lists the package directory on every request, so `PyPIServer.add()` is visible
to the very next request with no restart (the `cached-dir` backend, picked by
`auto` when watchdog is installed, would lag behind a filesystem watcher).
With `auth`, download, list and update all require the password, so a wrong
password really fails.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

START_DEADLINE = 10.0


class PyPIServerError(RuntimeError):
    pass


@dataclass
class PyPIServer:
    url: str  # "http://127.0.0.1:PORT/simple/", no credentials
    host: str  # "127.0.0.1:PORT"
    packages_dir: Path
    username: str | None = None
    password: str | None = None
    log_file: Path | None = None

    def url_with_auth(self) -> str:
        if self.username is None:
            return self.url
        return f"http://{self.username}:{self.password}@{self.host}/simple/"

    def add(self, *paths: Path) -> None:
        """Copy distribution files in; the next request lists them."""
        for path in paths:
            shutil.copy2(path, self.packages_dir / Path(path).name)

    def write_netrc(self, path: Path, *, password: str | None = None) -> Path:
        """A netrc file for this server (for uv's `NETRC` env var); mode 0600."""
        machine = self.host.split(":")[0]
        path.write_text(f"machine {machine}\nlogin {self.username}\npassword {password or self.password}\n")
        path.chmod(0o600)
        return path

    def log_text(self) -> str:
        """The request log plus whatever the process printed (tracebacks, bind errors)."""
        if self.log_file is None:
            return ""
        parts = [self.log_file, self.log_file.with_suffix(".out")]
        return "".join(p.read_text(errors="replace") for p in parts if p.exists())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_htpasswd(path: Path, username: str, password: str) -> Path:
    with warnings.catch_warnings():  # passlib imports the deprecated `crypt` module
        warnings.simplefilter("ignore", DeprecationWarning)
        from passlib.apache import HtpasswdFile  # noqa: PLC0415 (test dependency)

    htpasswd = HtpasswdFile(str(path), new=True, default_scheme="apr_md5_crypt")
    htpasswd.set_password(username, password)
    htpasswd.save()
    return path


def _server_argv(packages_dir: Path, port: int, log_file: Path, passwords: Path | None) -> list[str]:
    argv = [
        sys.executable, "-m", "pypiserver", "run",
        "--host", "127.0.0.1", "--port", str(port),
        "--disable-fallback",
        "--backend", "simple-dir",
        "--server", "wsgiref",
        "--hash-algo", "sha256",
        "--log-file", str(log_file), "--log-stream", "none", "-v",
    ]
    if passwords is None:
        argv += ["-a", ".", "-P", "."]
    else:
        argv += ["-a", "download,list,update", "-P", str(passwords)]
    return argv + [str(packages_dir)]


def _ping(server: PyPIServer) -> bool:
    request = urllib.request.Request(f"http://{server.host}/health")
    try:
        with urllib.request.urlopen(request, timeout=1) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _wait_until_up(proc: subprocess.Popen, server: PyPIServer, deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise PyPIServerError(f"pypiserver exited with {proc.returncode}:\n{server.log_text()}")
        if _ping(server):
            return
        time.sleep(0.05)
    raise PyPIServerError(f"pypiserver did not answer within {START_DEADLINE}s:\n{server.log_text()}")


def stop(proc: subprocess.Popen, timeout: float = 5) -> None:
    """Stop a server the test world started: SIGTERM, then SIGKILL after ``timeout`` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)


def _launch(packages_dir: Path, tmp: Path, auth: tuple[str, str] | None) -> tuple[subprocess.Popen, PyPIServer]:
    passwords = write_htpasswd(tmp / "htpasswd", *auth) if auth else None
    port = free_port()
    server = PyPIServer(
        url=f"http://127.0.0.1:{port}/simple/",
        host=f"127.0.0.1:{port}",
        packages_dir=packages_dir,
        username=auth[0] if auth else None,
        password=auth[1] if auth else None,
        log_file=tmp / f"pypiserver-{port}.log",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    with open(tmp / f"pypiserver-{port}.out", "wb") as console:  # startup errors land here
        proc = subprocess.Popen(
            _server_argv(packages_dir, port, server.log_file, passwords),
            stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT, env=env,
        )
    try:
        _wait_until_up(proc, server, time.monotonic() + START_DEADLINE)
    except BaseException:
        stop(proc)
        raise
    return proc, server


@contextlib.contextmanager
def start_pypi_server(packages_dir: Path, *, auth: tuple[str, str] | None = None) -> Iterator[PyPIServer]:
    """Serve `packages_dir` on a free loopback port until the block exits.

    The log (`server.log_file`, `server.log_text()`) lives in a temp dir removed on exit.
    """
    packages_dir = Path(packages_dir)
    packages_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pypiserver-") as tmp:
        for attempt in range(3):  # the free port may be taken between probe and bind
            try:
                proc, server = _launch(packages_dir, Path(tmp), auth)
                break
            except PyPIServerError as err:
                if attempt == 2 or "Address already in use" not in str(err):
                    raise
        try:
            yield server
        finally:
            stop(proc)


def basic_auth_header(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}

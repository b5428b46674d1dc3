"""The bench's conda channel server: Debian's nginx, which honours Range as real channel hosts do.

``ensure()`` finds the nginx binary, or installs the Debian package (as root, with apt-get) when
it is missing; it returns the binary or a reason why there is none. ``Nginx(folder)`` then serves
that folder on a free loopback port: one process (``master_process off``), everything it writes
(config, pid, logs, temp folders) in a private temp folder, an access log of status and body bytes
per request, from which ``archive_bytes()`` adds up what clients fetched of the package archives.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

CANDIDATES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx")
START_DEADLINE = 10.0
ARCHIVES = (".conda", ".tar.bz2")

CONFIG = """\
daemon off;
master_process off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format bench '$status $body_bytes_sent $request_uri';
    access_log {root}/access.log bench;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 10000;
    client_body_temp_path {root}/tmp/body;
    proxy_temp_path {root}/tmp/proxy;
    fastcgi_temp_path {root}/tmp/fastcgi;
    uwsgi_temp_path {root}/tmp/uwsgi;
    scgi_temp_path {root}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port} backlog=512;
        root {folder};
    }}
}}
"""


def find() -> str | None:
    return shutil.which("nginx") or next((c for c in CANDIDATES if os.access(c, os.X_OK)), None)


def ensure(log) -> tuple[str | None, str]:
    """(the nginx binary, "") or (None, why not)."""
    found = find()
    if found:
        return found, ""
    if os.geteuid() != 0:
        return None, "nginx is not installed and the bench is not root (apt-get install nginx)"
    if not shutil.which("apt-get"):
        return None, "nginx is not installed and there is no apt-get here"
    log("installing nginx from Debian (apt-get install nginx), once ...")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "nginx"]
    done = subprocess.run(install, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if done.returncode:  # a stale package list: update it once and retry
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, stdin=subprocess.DEVNULL)
        done = subprocess.run(install, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    found = find()
    if found:
        return found, ""
    tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
    return None, f"apt-get install nginx failed (exit {done.returncode}): {tail[0]}"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Nginx:
    kind = "nginx"

    def __init__(self, binary: str, folder: Path) -> None:
        self.binary, self.folder = binary, Path(folder).resolve()
        self._root = Path(tempfile.mkdtemp(prefix="bench-nginx-"))
        self._proc: subprocess.Popen | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Nginx":
        (self._root / "tmp").mkdir()
        for attempt in range(3):  # the free port may be taken between the probe and nginx's bind
            self.port = free_port()
            config = self._root / "nginx.conf"
            config.write_text(CONFIG.format(root=self._root, port=self.port, folder=self.folder))
            argv = [self.binary, "-p", f"{self._root}/", "-c", str(config), "-e", str(self._root / "error.log")]
            console = open(self._root / "console.log", "wb")
            self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT)
            console.close()
            if self._wait_until_up():
                return self
            self.stop()
            if attempt == 2 or "Address already in use" not in self.errors():
                raise RuntimeError(f"nginx did not start: {self.errors()[-2000:]}")
        return self

    def _wait_until_up(self) -> bool:
        deadline = time.monotonic() + START_DEADLINE
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.url}/noarch/repodata.json", timeout=1) as response:
                    if response.status == 200:
                        return True
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
        return False

    def errors(self) -> str:
        return "".join(p.read_text(errors="replace") for p in (self._root / "error.log", self._root / "console.log")
                       if p.exists())

    def archive_bytes(self) -> int:
        """Body bytes sent for package archives so far (every request, ranged or whole)."""
        total = 0
        log = self._root / "access.log"
        for line in log.read_text().splitlines() if log.exists() else []:
            status, sent, uri = (line.split(" ", 2) + ["", ""])[:3]
            if uri.split("?", 1)[0].endswith(ARCHIVES) and sent.isdigit():
                total += int(sent)
        return total

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
        self._proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> "Nginx":
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()

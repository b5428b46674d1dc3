"""A PEP 503 simple index on 127.0.0.1 that records the Authorization header of every request.

For the credential-scope tests: an index on another port of the same host must never receive the
login of a private index, neither directly nor when the private index redirects a download to it.
With ``auth``, every request needs that login (401 otherwise); with ``redirect``, each request whose
path starts with ``redirect_prefix`` is answered ``302 Location: <redirect><path>`` instead (to
another origin: its login must not follow).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator


@dataclass
class Recorded:
    method: str
    path: str
    authorization: str | None


@dataclass
class RecordingIndex:
    url: str  # http://127.0.0.1:PORT/simple/
    base: str  # http://127.0.0.1:PORT
    requests: list[Recorded] = field(default_factory=list)

    def authorizations(self) -> list[str]:
        return [r.authorization for r in self.requests if r.authorization]


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (http.server API)
        pass

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def do_POST(self) -> None:  # noqa: N802 (git's smart HTTP posts; 307 keeps the method)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        self.server.record.requests.append(Recorded(self.command, self.path, self.headers.get("Authorization")))
        if self.server.auth and self.headers.get("Authorization") != self.server.auth:
            return self._reply(401, b"", {"WWW-Authenticate": 'Basic realm="recording"'})
        if self.server.redirect and self.path.startswith(self.server.redirect_prefix):
            code = 307 if self.command == "POST" else 302
            return self._reply(code, b"", {"Location": self.server.redirect + self.path})
        path = self.path.split("?", 1)[0]
        if path.rstrip("/") == "/simple":
            names = sorted({_normalize(f.name.split("-")[0]) for f in self._files()})
            return self._page("".join(f'<a href="/simple/{n}/">{n}</a>\n' for n in names))
        if path.startswith("/simple/"):
            wanted = _normalize(path[len("/simple/"):].strip("/"))
            files = [f for f in self._files() if _normalize(f.name.split("-")[0]) == wanted]
            links = [f'<a href="/packages/{html.escape(f.name)}#sha256={hashlib.sha256(f.read_bytes()).hexdigest()}">'
                     f"{html.escape(f.name)}</a>\n" for f in files]
            return self._page("".join(links)) if links else self._reply(404, b"not found")
        if path.startswith("/packages/"):
            target = self.server.folder / Path(path).name
            if target.is_file():
                return self._reply(200, target.read_bytes(), {"Content-Type": "application/octet-stream"})
        return self._reply(404, b"not found")

    def _files(self) -> list[Path]:
        return sorted(p for p in self.server.folder.iterdir() if p.suffix in (".whl", ".gz", ".zip"))

    def _page(self, body: str) -> None:
        self._reply(200, f"<!DOCTYPE html><html><body>\n{body}</body></html>\n".encode(), {"Content-Type": "text/html"})

    def _reply(self, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, folder: Path, auth: str | None, redirect: str | None, redirect_prefix: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.folder, self.auth, self.redirect, self.redirect_prefix = folder, auth, redirect, redirect_prefix
        base = f"http://127.0.0.1:{self.server_address[1]}"
        self.record = RecordingIndex(f"{base}/simple/", base)


@contextlib.contextmanager
def recording_index(folder: Path, *, auth: tuple[str, str] | None = None, redirect: str | None = None,
                    redirect_prefix: str = "/packages/") -> Iterator[RecordingIndex]:
    header = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode() if auth else None
    server = _Server(Path(folder), header, redirect, redirect_prefix)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.record
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

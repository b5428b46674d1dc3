"""Request handlers for serving a folder over HTTP in the test world: quiet, counting, optionally ranged.

``http.server.SimpleHTTPRequestHandler`` ignores ``Range`` and always answers 200 with the whole
file (as some real servers do). ``RangeHandler`` honours one range per request as nginx does
(``bytes=A-B``, ``bytes=A-``, ``bytes=-N``; 206 with Content-Range, 416 past the end). Both record
``(path, status, body bytes)`` of each response in the server's ``served`` list, so a test can
tell how much of each file a client fetched. The entry is recorded before the body is sent: by the
time a client has read a response, its entry is there (a client that hangs up early is counted
in full).
"""

from __future__ import annotations

import http.server
import os
import re
import sys
import threading

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")
_CHUNK = 1 << 16


class CountingServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # rattler and uv open dozens of connections at once; the default 5 drops some

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.served: list[tuple[str, int, int]] = []
        self.served_lock = threading.Lock()

    def handle_error(self, request, client_address) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return  # a client that had what it needed and hung up (a reader of a package's info/ only)
        super().handle_error(request, client_address)

    def record(self, path: str, status: int, sent: int) -> None:
        with self.served_lock:
            self.served.append((path, status, sent))


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """The stdlib handler, silent, counting the body bytes it sends (whole files only)."""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass

    def copyfile(self, source, outputfile) -> None:
        self.server.record(self.path, 200, os.fstat(source.fileno()).st_size)
        for chunk in iter(lambda: source.read(_CHUNK), b""):
            outputfile.write(chunk)


class RangeHandler(QuietHandler):
    """Also honours a single byte range (206 Partial Content), as nginx does."""

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        match = _RANGE.match(self.headers.get("Range", "").strip())
        path = self.translate_path(self.path)
        if match is None or not os.path.isfile(path) or match.groups() == ("", ""):
            return super().do_GET()
        size = os.path.getsize(path)
        first, last = match.groups()
        if first == "":  # the last N bytes
            start, end = max(0, size - int(last)), size - 1
        else:
            start, end = int(first), min(int(last), size - 1) if last else size - 1
        if start >= size or start > end:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.server.record(self.path, 416, 0)  # before the client can have its answer
            self.end_headers()
            return None
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.server.record(self.path, 206, end - start + 1)
        self.end_headers()
        with open(path, "rb") as handle:
            handle.seek(start)
            left = end - start + 1
            while left:
                chunk = handle.read(min(_CHUNK, left))
                if not chunk:
                    break
                self.wfile.write(chunk)
                left -= len(chunk)
        return None

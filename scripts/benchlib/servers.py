"""The benchmark's local servers: the test world's pypiserver and channel server, with bigger backlogs.

``tests/world/pypi_server.py`` runs pypiserver on wsgiref's single-threaded server, whose listen
backlog is 5: uv opens some 50 connections at once, the kernel drops the SYNs past the backlog,
and each dropped one costs a 1-3 s retransmit. That measured the server, not the tools (a warm
``uv pip compile`` took 8 s, user time 0.04 s). This module runs the same pypiserver app with the
same arguments (``pypi_server._server_argv``) on a threading wsgiref server with a backlog of 512.

The conda channel is served like the test world's ``ChannelServer`` (a ``ThreadingHTTPServer`` on a
background thread), with the same change: its default backlog is also 5, and rattler fetches in
parallel.

Run as a script, this module is the pypiserver; imported, ``pypi(folder)`` and ``channel(folder)``
are the context managers.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parents[2]
BACKLOG = 512


def _serve(argv: list[str]) -> None:
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIServer

    import pypiserver.__main__ as cli
    from pypiserver import bottle_wrapper as bottle

    class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
        daemon_threads = True
        request_queue_size = BACKLOG

    original = bottle.run

    def run(*args, **kwargs):
        kwargs.setdefault("server_class", ThreadingWSGIServer)
        return original(*args, **kwargs)

    bottle.run = run
    cli.main(argv)


def _repo_on_path() -> None:
    """The test world's servers are reused (``tests.world``): the repo must be importable."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))


@contextlib.contextmanager
def channel(directory: Path) -> Iterator[str]:
    """Serve a conda channel folder over HTTP on a free loopback port; yields its URL."""
    _repo_on_path()
    from tests.world.conda_channel import ChannelServer

    with ChannelServer(directory) as server:
        yield server.url


@contextlib.contextmanager
def pypi(packages_dir: Path) -> Iterator[object]:
    """Serve ``packages_dir`` on a free loopback port (a ``pypi_server.PyPIServer``) until the block exits."""
    _repo_on_path()
    from tests.world import pypi_server

    with tempfile.TemporaryDirectory(prefix="bench-pypiserver-") as tmp:
        port = pypi_server.free_port()
        log_file = Path(tmp) / f"pypiserver-{port}.log"
        server = pypi_server.PyPIServer(url=f"http://127.0.0.1:{port}/simple/", host=f"127.0.0.1:{port}",
                                        packages_dir=Path(packages_dir), log_file=log_file)
        argv = pypi_server._server_argv(Path(packages_dir), port, log_file, None)
        argv = [sys.executable, str(Path(__file__).resolve()), *argv[argv.index("run"):]]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
        with open(log_file.with_suffix(".out"), "wb") as console:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT, env=env)
        try:
            pypi_server._wait_until_up(proc, server, time.monotonic() + pypi_server.START_DEADLINE)
            yield server
        finally:
            pypi_server._stop(proc)


if __name__ == "__main__":
    _serve(sys.argv[1:])

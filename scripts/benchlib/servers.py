"""The benchmark's local servers: the conda channel on nginx, the test world's pypiserver.

The channel is served by Debian's nginx (``nginx.py``): it honours ``Range``, as the hosts of real
channels do, so the bench sees materialize's lock-time range reads as a user would, and its access
log says how many archive bytes were fetched. Where nginx cannot be had (not root, no apt-get, no
network to Debian), the bench says so and serves the channel with the test world's Python server
in its ``ranges=True`` mode, which honours Range too and counts the bytes it sends.

``tests/world/pypi_server.py`` runs pypiserver on wsgiref's single-threaded server, whose listen
backlog is 5: uv opens some 50 connections at once, the kernel drops the SYNs past the backlog,
and each dropped one costs a 1-3 s retransmit. That measured the server, not the tools (a warm
``uv pip compile`` took 8 s, user time 0.04 s). This module runs the same pypiserver app with the
same arguments (``pypi_server._server_argv``) on a threading wsgiref server with a backlog of 512,
under the bench venv's interpreter (``sys.executable``: scripts/bench always runs there).

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


class _PythonChannel:
    """The fallback: the test world's ChannelServer with Range support, counting bytes itself."""

    kind = "Python http.server (Range)"

    def __init__(self, server) -> None:
        self._server = server

    @property
    def url(self) -> str:
        return self._server.url

    def archive_bytes(self) -> int:
        return sum(sent for path, _, sent in self._server.served if path.endswith((".conda", ".tar.bz2")))


@contextlib.contextmanager
def channel(directory: Path, log) -> Iterator[object]:
    """Serve a conda channel folder over HTTP on a free loopback port; yields an object with
    ``url``, ``kind`` and ``archive_bytes()`` (package archive bytes sent so far)."""
    from . import nginx

    binary, why = nginx.ensure(log)
    if binary is not None:
        with nginx.Nginx(binary, directory) as server:
            yield server
        return
    log(f"WARNING: {why}; serving the channel with the test world's Python server instead "
        "(it honours Range too, but is slower with many parallel requests)")
    _repo_on_path()
    from tests.world.conda_channel import ChannelServer

    with ChannelServer(directory, ranges=True) as server:
        yield _PythonChannel(server)


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
            pypi_server.stop(proc)


if __name__ == "__main__":
    _serve(sys.argv[1:])

"""A seam for fault-injection tests: ``MATERIALIZE_FAULT=NAME[:N]`` kills this process with SIGKILL
at the N-th time (default: the first) it passes the named point, as an OOM killer or a container
stop would. Unset, a point costs one dictionary lookup. The names are listed in ``POINTS``."""

from __future__ import annotations

import os
import signal

ENV = "MATERIALIZE_FAULT"
POINTS = ("stamp-cleared", "cleared", "pypi-removed", "conda-linked", "record-written", "wheels-installed",
          "pypi-installed", "expected-written", "times-fixed")
_SEEN: dict[str, int] = {}


def point(name: str) -> None:
    wanted = os.environ.get(ENV)
    if not wanted:
        return
    target, _, count = wanted.partition(":")
    if target != name:
        return
    _SEEN[name] = _SEEN.get(name, 0) + 1
    if _SEEN[name] == int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)

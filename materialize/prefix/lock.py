"""The prefix lock: one writer at a time, held until the last process that could write exits.

An exclusive ``flock`` on ``<prefix>/.materialize/lock``. Its descriptor is handed down to every
child (``proc.hand_down``): a flock belongs to the open file, so it stays held while uv, or
anything uv started, still runs, even after materialize itself was killed. A later install then
waits for the straggler instead of racing it. (``filelock`` hides its descriptor, hence fcntl.)
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from pathlib import Path

from ..cache import LockTimeoutError, LOCK_TIMEOUT_ENV, lock_timeout
from ..engines import proc
from .state import LOCK, STATE_DIR


class PrefixLock:
    def __init__(self, prefix: Path) -> None:
        self.path = prefix / STATE_DIR / LOCK
        self.fd: int | None = None

    def __enter__(self) -> "PrefixLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        timeout = lock_timeout()
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as err:
                if err.errno not in (errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise LockTimeoutError(f"waited {timeout:.0f}s for another process holding the prefix "
                                           f"{self.path.parent.parent}", hint=f"set {LOCK_TIMEOUT_ENV} to wait "
                                           "longer") from None
                time.sleep(0.02)
        self.fd = fd
        proc.hand_down(fd)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            proc.take_back(self.fd)
            os.close(self.fd)
            self.fd = None

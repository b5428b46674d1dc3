"""The one subprocess helper: argv list, environment, timeout, capture, redaction."""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..secrets import redact

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def tail(self, lines: int = 12) -> str:
        """The last lines of stderr (or stdout), redacted: what an error message may quote."""
        text = (self.stderr.strip() or self.stdout.strip()).splitlines()
        return redact("\n".join(text[-lines:]))


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float | None = 900,
) -> Completed:
    """Run ``argv`` (never through a shell) and capture its output. Secrets travel in ``env`` only."""
    args = tuple(os.fspath(a) for a in argv)
    log.debug("run: %s", redact(" ".join(args)))
    try:
        done = subprocess.run(
            args, env=dict(env) if env is not None else None, cwd=cwd, timeout=timeout,
            capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False,
        )
    except subprocess.TimeoutExpired as err:
        return Completed(args, 124, _text(err.stdout), _text(err.stderr) + f"\ntimed out after {timeout}s")
    except OSError as err:  # the program is missing or cannot be executed: the shell's 127
        return Completed(args, 127, "", f"cannot run {args[0]}: {err.strerror or err}")
    result = Completed(args, done.returncode, done.stdout, done.stderr)
    if done.returncode:
        log.debug("exit %s; stderr:\n%s", done.returncode, redact(done.stderr))
    return result


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data

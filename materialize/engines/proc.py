"""The one subprocess helper: argv list, environment, timeout, capture, redaction."""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
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
    meanwhile: Callable[[], object] | None = None,
) -> Completed:
    """Run ``argv`` (never through a shell) and capture its output. Secrets travel in ``env`` only.

    ``meanwhile()`` runs in this thread while the child does (work that does not need its output);
    if it raises, the child is killed."""
    args = tuple(os.fspath(a) for a in argv)
    log.debug("run: %s", redact(" ".join(args)))
    with subprocess.Popen(args, env=dict(env) if env is not None else None, cwd=cwd, text=True,
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as child:
        try:
            if meanwhile is not None:
                meanwhile()
            stdout, stderr = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            stdout, stderr = child.communicate()
            return Completed(args, 124, _text(stdout), _text(stderr) + f"\ntimed out after {timeout}s")
        except BaseException:
            child.kill()
            raise
    result = Completed(args, child.returncode, stdout, stderr)
    if child.returncode:
        log.debug("exit %s; stderr:\n%s", child.returncode, redact(stderr))
    return result


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data

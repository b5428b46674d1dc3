"""The one subprocess helper: argv list, environment, timeout, capture, redaction."""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..secrets import is_secret, redact

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
    pass_fds: Sequence[int] = (),
) -> Completed:
    """Run ``argv`` (never through a shell) and capture its output. Secrets never travel in argv:
    through ``child_auth`` (a socket), or a `secret_file` whose descriptor is in ``pass_fds``."""
    args = tuple(os.fspath(a) for a in argv)
    log.debug("run: %s", redact(" ".join(args)))
    try:
        done = subprocess.run(
            args, env=child_environment(env), cwd=cwd, timeout=timeout,
            capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False, pass_fds=tuple(pass_fds),
        )
    except subprocess.TimeoutExpired as err:
        return Completed(args, 124, _text(err.stdout), _text(err.stderr) + f"\ntimed out after {timeout}s")
    result = Completed(args, done.returncode, done.stdout, done.stderr)
    if done.returncode:
        log.debug("exit %s; stderr:\n%s", done.returncode, redact(done.stderr))
    return result


def child_environment(env: Mapping[str, str] | None) -> dict[str, str]:
    """``env`` (default: ours) without the variables that hold a login (``${VAR}`` expansions, a
    ``.env`` value): a child gets a login only through ``child_auth``, for the origins it needs."""
    return {k: v for k, v in (os.environ if env is None else env).items() if not is_secret(v)}


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data


@dataclass(frozen=True)
class SecretFile:
    fd: int
    path: str  # /dev/fd/N: what the child opens


@contextmanager
def secret_file(content: str | bytes) -> Iterator[SecretFile]:
    """A file holding ``content`` that exists on no disk: an anonymous memory file (``memfd_create``),
    or, where that is missing, a 0600 temp file unlinked as soon as it is made. Give ``path``
    to the child (argv or env: it holds no secret) and ``fd`` in ``run(pass_fds=...)``; it vanishes
    when the block ends and with the process, however it dies."""
    data = content.encode() if isinstance(content, str) else content
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("materialize-secret", 0)
    else:  # pragma: no cover (not Linux)
        handle, name = tempfile.mkstemp(prefix="materialize-secret-")
        os.unlink(name)
        fd = handle
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.lseek(fd, 0, os.SEEK_SET)
        yield SecretFile(fd, f"/dev/fd/{fd}")
    finally:
        os.close(fd)

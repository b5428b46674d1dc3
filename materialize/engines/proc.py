"""The one subprocess helper: argv list, environment, timeout, capture, redaction.

No child outlives us as a writer: on Linux every child gets ``PR_SET_PDEATHSIG`` (SIGKILL when
materialize dies, however it dies), and inherits the file descriptors handed down with
``hand_down`` (the prefix lock: a flock stays held until the last process holding it exits, so a
later install waits for any straggler rather than racing it).
"""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..secrets import is_secret, redact

log = logging.getLogger(__name__)
_HANDED_DOWN: set[int] = set()
_PR_SET_PDEATHSIG = 1


def hand_down(fd: int) -> None:
    """Children started from now on inherit ``fd`` (until ``take_back``)."""
    _HANDED_DOWN.add(fd)


def take_back(fd: int) -> None:
    _HANDED_DOWN.discard(fd)


def _die_with_parent_setup():
    """A preexec function that makes the child die with this process (Linux), or None elsewhere."""
    import sys

    if not sys.platform.startswith("linux"):
        return None
    import ctypes
    import signal

    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()

    def die_with_parent() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return die_with_parent


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
    pass_fds: Sequence[int] = (),
    input: str | None = None,
) -> Completed:
    """Run ``argv`` (never through a shell) and capture its output. Secrets never travel in argv:
    through ``child_auth`` (a socket), a `secret_file` whose descriptor is in ``pass_fds``, or on
    stdin (``input``: a credential helper's protocol).

    ``meanwhile()`` runs in this thread while the child does (work that does not need its output;
    keep it short: the child's output waits in its pipes until then); if it raises, the child is killed."""
    args = tuple(os.fspath(a) for a in argv)
    log.debug("run: %s", redact(" ".join(args)))
    stdin = subprocess.DEVNULL if input is None else subprocess.PIPE
    try:
        child = subprocess.Popen(args, env=child_environment(env), cwd=cwd, text=True,
                                 stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 pass_fds=tuple(sorted(_HANDED_DOWN | set(pass_fds))),
                                 preexec_fn=_die_with_parent_setup())
    except OSError as err:  # the program is missing or cannot be executed: the shell's 127
        return Completed(args, 127, "", f"cannot run {args[0]}: {err.strerror or err}")
    with child:
        try:
            if meanwhile is not None:
                meanwhile()
            stdout, stderr = child.communicate(input=input, timeout=timeout)
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

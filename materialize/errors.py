"""The MaterializeError hierarchy: every user-facing failure has an exit code, a message and a hint.

Exit codes (documented in the README):
  0 ok; 1 internal error (a bug); 2 usage; 3 invalid input; 4 unsatisfiable or conflicting
  requirements; 5 fetch, network or authentication failure; 6 integrity or verification failure;
  7 lockfile out of date; 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

from pathlib import Path


class MaterializeError(Exception):
    """Base class. Core code raises these; only cli.py prints them and exits."""

    exit_code = 1
    kind = "error"

    def __init__(self, message: str, *, hint: str | None = None, data: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.data = data  # what --json shows as "data" (e.g. verify's drift report)

    def __str__(self) -> str:
        return self.message


class UsageError(MaterializeError):
    exit_code = 2
    kind = "usage"


class InputError(MaterializeError):
    """Bad input: the message names the file and line (``file:line: what is wrong``)."""

    exit_code = 3
    kind = "invalid-input"

    @classmethod
    def at(cls, path: Path | str, line: int | None, what: str, *, hint: str | None = None) -> "InputError":
        name = Path(path).name if isinstance(path, Path) else path
        where = f"{name}:{line}" if line is not None else f"{name}"
        return cls(f"{where}: {what}", hint=hint)


class ResolutionError(MaterializeError):
    """Unsatisfiable or conflicting requirements; the message names packages and their sources."""

    exit_code = 4
    kind = "unsatisfiable"


class FetchError(MaterializeError):
    """Download, network or authentication failure."""

    exit_code = 5
    kind = "fetch"


class IntegrityError(MaterializeError):
    """A hash mismatch, a tampered lockfile or a prefix that drifted from its expected state."""

    exit_code = 6
    kind = "integrity"


class StaleLockError(MaterializeError):
    """The inputs changed since the lockfile was written."""

    exit_code = 7
    kind = "stale-lock"


class Interrupted(MaterializeError):
    """Ctrl-C: the shell's convention, 128 + SIGINT."""

    exit_code = 130
    kind = "interrupted"

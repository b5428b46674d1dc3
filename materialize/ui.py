"""The console: verbosity, progress on a terminal's stderr, the --json envelope, the debug log."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from .secrets import redact

JSON_VERSION = 1


def write(stream, text: str) -> None:
    """Write and flush; when the reader went away (``| head -1``, a closed terminal), drop the rest
    of this stream's output and carry on: the command's exit code is its result, whatever happens
    to its output."""
    try:
        stream.write(text)
        stream.flush()
    except BrokenPipeError:
        silence(stream)


def silence(stream) -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


class Console:
    def __init__(self, *, quiet: bool = False, verbose: int = 0, as_json: bool = False) -> None:
        self.quiet, self.verbose, self.as_json = quiet, verbose, as_json
        # Progress only for a person watching: both streams on a terminal, not --quiet, not --json.
        self.interactive = sys.stdout.isatty() and sys.stderr.isatty() and not quiet and not as_json
        self._started = time.monotonic()

    def out(self, text: str = "") -> None:
        """The command's result, on stdout (suppressed by --json, which prints the envelope instead)."""
        if not self.as_json and not self.quiet:
            write(sys.stdout, redact(text) + "\n")

    def info(self, text: str) -> None:
        if not self.quiet and not self.as_json:
            write(sys.stderr, redact(text) + "\n")

    def progress(self, text: str) -> None:
        """Transient progress: only on a terminal."""
        if self.interactive:
            write(sys.stderr, f"\r\033[2K{redact(text)}")

    def done_progress(self) -> None:
        if self.interactive:
            write(sys.stderr, "\r\033[2K")

    def task(self, description: str, total: int) -> "Task":
        """A progress bar (rich, on stderr) for ``total`` steps; does nothing unless interactive."""
        return Task(description, total, self.interactive)

    def error(self, message: str, hint: str | None) -> None:
        if self.as_json:
            return
        write(sys.stderr, f"error: {redact(message)}\n" + (f"hint: {redact(hint)}\n" if hint else ""))

    def envelope(self, command: str, exit_code: int, data: Any, errors: list[dict[str, Any]]) -> None:
        if not self.as_json:
            return
        payload = {"version": JSON_VERSION, "command": command, "status": "ok" if exit_code == 0 else "error",
                   "exit_code": exit_code, "data": data, "errors": errors}
        write(sys.stdout, redact(json.dumps(payload, indent=2, sort_keys=True, default=str)) + "\n")


class Task:
    """``with console.task("fetching", n) as task: ... task.advance()``: rich only when interactive."""

    def __init__(self, description: str, total: int, interactive: bool) -> None:
        self._description, self._total, self._interactive = description, total, interactive
        self._progress = None
        self._id = None

    def __enter__(self) -> "Task":
        if self._interactive and self._total:
            from rich.console import Console as RichConsole
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), console=RichConsole(stderr=True), transient=True)
            self._progress.start()
            self._id = self._progress.add_task(self._description, total=self._total)
        return self

    def advance(self, steps: int = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._id, steps)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


class _RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def setup_logging(verbose: int, log_dir: Path | None) -> Path | None:
    """A per-run debug log (always, redacted) and, with -v, debug output on stderr."""
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    if verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
        handler.setFormatter(_RedactingFormatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    if log_dir is None:
        return None
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        path = log_dir / f"run-{os.getpid()}.log"
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(_RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        _prune(log_dir, keep=20)
        return path
    except OSError:
        return None


def _prune(folder: Path, keep: int) -> None:
    logs = sorted(folder.glob("run-*.log"), key=lambda p: p.stat().st_mtime)
    for old in logs[:-keep]:
        old.unlink(missing_ok=True)

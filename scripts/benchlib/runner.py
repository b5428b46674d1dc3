"""Running and timing the commands under test: environments, wall-clock timing, best of N, interleaving."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# Variables that would steer a tool behind the bench's back (a developer's uv, pip or conda setup).
_DROP = ("UV_", "PIP_", "VIRTUAL_ENV", "CONDA_", "MATERIALIZE_", "PYTHONPATH", "PYTHONHOME", "NETRC")


class CommandFailed(RuntimeError):
    pass


def clean_env(extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROP)}
    env.update(extra)
    return env


def run(argv: Sequence[str | os.PathLike], env: Mapping[str, str], cwd: Path | None = None) -> float:
    """Run ``argv``; return its wall-clock seconds. Output is kept only to explain a failure."""
    args = [os.fspath(a) for a in argv]
    started = time.perf_counter()
    done = subprocess.run(args, env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True)
    seconds = time.perf_counter() - started
    if done.returncode:
        tail = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()[-25:]
        raise CommandFailed(f"exit {done.returncode}: {' '.join(args)}\n" + "\n".join(tail))
    return seconds


def remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


@dataclass
class Samples:
    """Wall-clock samples of one command; the best (minimum) is what the bench reports."""

    label: str
    seconds: list[float] = field(default_factory=list)

    @property
    def best(self) -> float:
        return min(self.seconds) if self.seconds else float("nan")

    @property
    def median(self) -> float:
        ordered = sorted(self.seconds)
        if not ordered:
            return float("nan")
        mid = len(ordered) // 2
        return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


@dataclass
class Case:
    """One timed command: ``prepare`` (untimed) runs before each sample, then ``argv`` is timed."""

    samples: Samples
    argv: Callable[[], Sequence[str | os.PathLike]]
    env: Mapping[str, str]
    prepare: Callable[[], None] | None = None
    cwd: Path | None = None

    def once(self) -> float:
        if self.prepare is not None:
            self.prepare()
        seconds = run(self.argv(), self.env, self.cwd)
        self.samples.seconds.append(seconds)
        return seconds


def interleaved(cases: Sequence[Case], repeat: int, log: Callable[[str], None]) -> None:
    """A, B, A, B, ...: a burst of load on this shared machine hits both sides, not one."""
    for round_ in range(repeat):
        for case in cases:
            seconds = case.once()
            log(f"  {case.samples.label:<44} run {round_ + 1}/{repeat}: {seconds:7.3f} s")


def materialize_bin() -> Path:
    found = Path(sys.executable).parent / "materialize"
    if not found.exists():
        raise SystemExit(f"{found} is missing: pip install -e . into this venv")
    return found

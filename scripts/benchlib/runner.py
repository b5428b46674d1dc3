"""Running and timing the commands under test: environments, wall clock and peak memory, interleaving."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# Variables that would steer a tool behind the bench's back (a developer's uv, pip or conda setup).
_DROP = ("UV_", "PIP_", "VIRTUAL_ENV", "CONDA_", "MATERIALIZE_", "PYTHONPATH", "PYTHONHOME", "PYTHONDONTWRITEBYTECODE",
         "NETRC")
VENV_BIN = Path(sys.executable).parent  # the bench venv (scripts/bench re-executes itself there)


class CommandFailed(RuntimeError):
    pass


def clean_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The caller's environment without tool settings, the bench venv first on PATH (whatever
    Python or venv came first before: a child that looks up ``python`` finds the bench's)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROP)}
    env["PATH"] = os.pathsep.join([str(VENV_BIN), *(p for p in env.get("PATH", "").split(os.pathsep)
                                                    if p and Path(p) != VENV_BIN)])
    env.update(extra)
    return env


@dataclass(frozen=True)
class Run:
    seconds: float  # wall clock
    max_rss: int  # bytes: the largest resident set of the process or any descendant it waited for


# A child's peak RSS counts the memory of the process that forked it (Linux copies the counters at
# fork and keeps the high-water mark across exec): forked from the bench (~35 MiB), even
# `python -c pass` would peak at the bench's size. GNU time is small (~2 MiB); it forks the command
# and reports the peak of that tree. Without it, the peak is taken from wait4 and has that floor.
GNU_TIME = next((t for t in ("/usr/bin/time",) if os.access(t, os.X_OK)), None)


def run(argv: Sequence[str | os.PathLike], env: Mapping[str, str], cwd: Path | None = None) -> Run:
    """Run ``argv``; its wall-clock seconds and peak RSS (the maximum over the command and its
    reaped descendants, e.g. uv under materialize). Output is kept only to explain a failure."""
    args = [os.fspath(a) for a in argv]
    with tempfile.TemporaryFile() as output, tempfile.NamedTemporaryFile("r") as peak:
        wrapped = [GNU_TIME, "-f", "%M", "-o", peak.name, *args] if GNU_TIME else args
        started = time.perf_counter()
        proc = subprocess.Popen(wrapped, env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL, stdout=output,
                                stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode:
            output.seek(0)
            tail = output.read().decode(errors="replace").strip().splitlines()[-25:]
            raise CommandFailed(f"exit {proc.returncode}: {' '.join(args)}\n" + "\n".join(tail))
        reported = peak.read().split()
        max_rss = int(reported[-1]) * 1024 if GNU_TIME and reported and reported[-1].isdigit() else usage.ru_maxrss * 1024
    return Run(seconds, max_rss)


def remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


@dataclass
class Samples:
    """Samples of one command (seconds, or bytes for a ``unit="B"`` measurement) and peak RSS."""

    label: str
    values: list[float] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)
    unit: str = "s"

    def add(self, result: Run) -> Run:
        self.values.append(result.seconds)
        self.rss.append(result.max_rss)
        return result

    @property
    def best(self) -> float:
        return min(self.values) if self.values else float("nan")

    @property
    def worst(self) -> float:
        return max(self.values) if self.values else float("nan")

    @property
    def median(self) -> float:
        ordered = sorted(self.values)
        if not ordered:
            return float("nan")
        mid = len(ordered) // 2
        return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2

    @property
    def peak_rss(self) -> int:
        return max(self.rss) if self.rss else 0


@dataclass
class Case:
    """One timed command: ``prepare`` (untimed) runs before each sample, then ``argv`` is timed."""

    samples: Samples
    argv: Callable[[], Sequence[str | os.PathLike]]
    env: Mapping[str, str]
    prepare: Callable[[], None] | None = None
    cwd: Path | None = None

    def once(self, record: bool = True) -> Run:
        if self.prepare is not None:
            self.prepare()
        result = run(self.argv(), self.env, self.cwd)
        return self.samples.add(result) if record else result


def warm_up(cases: Sequence[Case]) -> None:
    """One untimed run of each (fills caches, warms the page cache)."""
    for case in cases:
        case.once(record=False)


def interleaved(cases: Sequence[Case], repeat: int, log: Callable[[str], None]) -> None:
    """A, B, A, B, ...: a burst of load on this shared machine hits both sides, not one."""
    for round_ in range(repeat):
        for case in cases:
            result = case.once()
            log(f"  {case.samples.label:<44} run {round_ + 1}/{repeat}: {result.seconds:7.3f} s, "
                f"peak RSS {result.max_rss / 2**20:5.0f} MiB")


def materialize_bin() -> Path:
    found = VENV_BIN / "materialize"
    if not found.exists():
        raise SystemExit(f"{found} is missing: run .venv/bin/pip install -e '.[test]' in the repo")
    return found

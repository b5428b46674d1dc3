"""The bench's table (text and Markdown) and its last line, from the samples."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .runner import Samples


@dataclass(frozen=True)
class Row:
    what: str
    ours: str  # key of materialize's samples
    baseline: str  # key of the baseline's samples
    metric: str | None = None  # name on the last line
    goal: float | None = None
    speedup: bool = False  # baseline / ours (higher is better) instead of ours / baseline


ROWS = (
    Row("lock, warm caches", "lock.mz", "lock.raw", "lock-ratio", 1.2),
    Row("install, warm caches, fresh prefix", "warm.mz", "warm.raw", "warm-install-ratio", 1.15),
    Row("install, no-op (prefix up to date)", "noop.mz", "noop.python", "noop-ratio", 3.0),
    Row("PyPI part (wheels only)", "pypi.mz", "pypi.pip", "pip-speedup", 5.0, speedup=True),
    Row("install, cold caches (for the record)", "cold.mz", "cold.raw"),
    Row("install, warm: rattler defaults (record)", "warm.mz", "warm.raw-defaults"),
    Row("PyPI part: uv alone (for the record)", "pypi.mz", "pypi.uv"),
)
LAST_LINE = ("warm-install-ratio", "lock-ratio", "noop-ratio", "pip-speedup")


def _seconds(value: float) -> str:
    if math.isnan(value):
        return "-"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def _spread(samples: Samples) -> str:
    return f"{_seconds(samples.best)} ({_seconds(samples.median)})"


class Table:
    def __init__(self, results: dict[str, Samples], load, plan, setup_seconds: float, total_seconds: float,
                 *, quick: bool, run_dir) -> None:
        self.results, self.load, self.plan, self.run_dir = results, load, plan, run_dir
        self.setup_seconds, self.total_seconds, self.quick = setup_seconds, total_seconds, quick

    def ratio(self, row: Row) -> float:
        ours, base = self.results.get(row.ours), self.results.get(row.baseline)
        if ours is None or base is None or not ours.seconds or not base.seconds:
            return float("nan")
        return base.best / ours.best if row.speedup else ours.best / base.best

    def metrics(self) -> dict[str, float]:
        return {row.metric: self.ratio(row) for row in ROWS if row.metric}

    def met(self, row: Row) -> bool | None:
        if row.goal is None:
            return None
        value = self.ratio(row)
        return value >= row.goal if row.speedup else value <= row.goal

    def all_met(self) -> bool:
        return all(self.met(row) for row in ROWS if row.goal is not None)

    def rows(self) -> list[list[str]]:
        out = []
        for row in ROWS:
            if row.ours not in self.results or row.baseline not in self.results:
                continue
            ratio = self.ratio(row)
            unit = "x faster" if row.speedup else ""
            goal = "" if row.goal is None else (f">= {row.goal:g}" if row.speedup else f"<= {row.goal:g}")
            verdict = {None: "", True: "met", False: "MISSED"}[self.met(row)]
            out.append([row.what, _spread(self.results[row.ours]), self.results[row.baseline].label,
                        _spread(self.results[row.baseline]), f"{ratio:.2f}{unit and ' ' + unit}", goal, verdict])
        return out

    def header(self) -> list[str]:
        return ["measurement", "materialize", "baseline", "baseline time", "ratio (mz/base)", "goal", ""]

    def summary(self) -> list[str]:
        stats = self.load.stats
        conda_n, conda_files, conda_bytes = stats["conda"]
        pypi_n, pypi_files, pypi_bytes = stats["pypi"]
        reps = f"best of {self.plan.repeat} (no-op: {self.plan.noop_repeat}, cold: {self.plan.cold_repeat})"
        return [
            f"workload: {conda_n + 1} conda packages ({conda_n} noarch: python from real wheels, {conda_files:,} files, "
            f"{conda_bytes / 1e6:.0f} MB unpacked, + python {self.load.python_version}; "
            f"{stats['conda_archive_bytes'] / 1e6:.0f} MB of .conda), {pypi_n} PyPI wheels ({pypi_files:,} files, "
            f"{pypi_bytes / 1e6:.0f} MB unpacked)",
            f"times: {reps}; 'best (median)'; {'--quick' if self.quick else 'full run'}; "
            f"{_cores()} cores; prefixes and caches on {_filesystem(self.run_dir)}",
        ]

    def text(self) -> str:
        rows = [self.header(), *self.rows()]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = self.summary() + [""]
        for index, row in enumerate(rows):
            lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
            if index == 0:
                lines.append("  ".join("-" * w for w in widths))
        lines += ["", f"bench: workload ready in {self.setup_seconds:.0f} s, whole run {self.total_seconds:.0f} s"]
        return "\n".join(lines)

    def markdown(self) -> str:
        rows = self.rows()
        lines = [f"- {line}" for line in self.summary()] + [""]
        lines.append("| " + " | ".join(self.header()[:-1] + ["met"]) + " |")
        lines.append("|" + "---|" * len(self.header()))
        for row in rows:
            lines.append("| " + " | ".join(row) + " |")
        lines += ["", f"Bench: workload ready in {self.setup_seconds:.0f} s, whole run {self.total_seconds:.0f} s.", "",
                  "```", self.last_line(), "```", ""]
        return "\n".join(lines)

    def last_line(self) -> str:
        values = self.metrics()
        return " ".join(f"{name}={values[name]:.2f}" for name in LAST_LINE)


def _filesystem(path) -> str:
    """``/dev/shm (tmpfs)``: the mount point and type holding ``path``."""
    best = ("", "?")
    try:
        for line in open("/proc/mounts"):
            _, mount, kind = line.split()[:3]
            if (str(path) + "/").startswith(mount.rstrip("/") + "/") and len(mount) >= len(best[0]):
                best = (mount, kind)
    except OSError:
        pass
    return f"{path} ({best[1]})"


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

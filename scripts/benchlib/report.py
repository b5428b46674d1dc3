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
    Row("lock, warm caches", "lock.mz", "lock.raw", "lock-ratio", 1.10),
    Row("lock-time archive bytes (cold cache)", "lock-bytes.mz", "lock-bytes.total", "lock-bytes-fraction", 0.05),
    Row("install, warm caches, fresh prefix", "warm.mz", "warm.raw", "warm-install-ratio", 1.05),
    Row("install, cold caches", "cold.mz", "cold.raw", "cold-install-ratio", 1.00),
    Row("PyPI part vs uv (same wheels)", "pypi.mz", "pypi.uv", "pypi-ratio", 1.25),
    Row("PyPI part vs pip (same wheels)", "pypi.mz", "pypi.pip", "pip-speedup", 20.0, speedup=True),
    Row("install, no-op (prefix up to date)", "noop.mz", "noop.python", "noop-ratio", 3.0),
    Row("lock, cold caches (for the record)", "lock-cold.mz", "lock-cold.raw"),
    Row("install, warm: rattler defaults (record)", "warm.mz", "warm.raw-defaults"),
)
LAST_LINE = ("warm-install-ratio", "lock-ratio", "noop-ratio", "pip-speedup", "pypi-ratio", "cold-install-ratio",
             "lock-bytes-fraction")
REAL_LOCK_GOAL, REAL_INSTALL_GOAL = 1.2, 1.1


def real_rows(results: dict[str, Samples]) -> list[Row]:
    """Rows of the --real sets (keys ``real.<set>.lock.mz`` and so on), in the order they ran."""
    names = list(dict.fromkeys(key.split(".")[1] for key in results if key.startswith("real.")))
    rows = []
    for name in names:
        rows.append(Row(f"real {name}: lock, warm", f"real.{name}.lock.mz", f"real.{name}.lock.raw",
                        f"real-lock-ratio[{name}]", REAL_LOCK_GOAL))
        rows.append(Row(f"real {name}: install, warm, fresh", f"real.{name}.install.mz", f"real.{name}.install.raw",
                        f"real-install-ratio[{name}]", REAL_INSTALL_GOAL))
    return rows


def _amount(value: float, unit: str) -> str:
    if math.isnan(value):
        return "-"
    if unit == "B":
        return f"{value / 1e6:.2f} MB"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def _spread(samples: Samples) -> str:
    """``median [best-worst]`` (one value when every sample is the same)."""
    if samples.best == samples.worst:
        return _amount(samples.median, samples.unit)
    return (f"{_amount(samples.median, samples.unit)} "
            f"[{_amount(samples.best, samples.unit)}-{_amount(samples.worst, samples.unit)}]")


def _ratio(ours: float, base: float, speedup: bool) -> float:
    if math.isnan(ours) or math.isnan(base) or not ours or not base:
        return float("nan")
    return base / ours if speedup else ours / base


class Table:
    def __init__(self, results: dict[str, Samples], summary: list[str], footer: str) -> None:
        self.results, self.summary, self.footer = results, summary, footer
        self.all_rows = [*ROWS, *real_rows(results)]

    def present(self, row: Row) -> bool:
        ours, base = self.results.get(row.ours), self.results.get(row.baseline)
        return bool(ours and base and ours.values and base.values)

    def ratio(self, row: Row, median: bool = False) -> float:
        if not self.present(row):
            return float("nan")
        ours, base = self.results[row.ours], self.results[row.baseline]
        if median:
            return _ratio(ours.median, base.median, row.speedup)
        return _ratio(ours.best, base.best, row.speedup)

    def metrics(self) -> dict[str, float]:
        return {row.metric: self.ratio(row) for row in self.all_rows if row.metric}

    def met(self, row: Row) -> bool | None:
        if row.goal is None or not self.present(row):
            return None
        value = self.ratio(row)
        return value >= row.goal if row.speedup else value <= row.goal

    def all_met(self) -> bool:
        return all(self.met(row) is not False for row in self.all_rows)

    def header(self) -> list[str]:
        return ["measurement", "materialize", "baseline", "baseline value", "ratio (of medians)", "peak RSS mz / base",
                "goal", ""]

    def rows(self) -> list[list[str]]:
        out = []
        for row in self.all_rows:
            if not self.present(row):
                continue
            ours, base = self.results[row.ours], self.results[row.baseline]
            digits = 3 if ours.unit == "B" else 2
            unit = " x faster" if row.speedup else ""
            ratio = f"{self.ratio(row):.{digits}f}{unit} ({self.ratio(row, median=True):.{digits}f})"
            rss = f"{ours.peak_rss / 2**20:.0f} / {base.peak_rss / 2**20:.0f} MiB" if ours.rss and base.rss else ""
            goal = "" if row.goal is None else (f">= {row.goal:g}" if row.speedup else f"<= {row.goal:g}")
            verdict = {None: "", True: "met", False: "MISSED"}[self.met(row)]
            out.append([row.what, _spread(ours), base.label, _spread(base), ratio, rss, goal, verdict])
        return out

    def text(self) -> str:
        rows = [self.header(), *self.rows()]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = self.summary + [""]
        for index, row in enumerate(rows):
            lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
            if index == 0:
                lines.append("  ".join("-" * w for w in widths))
        return "\n".join(lines + ["", self.footer])

    def markdown(self) -> str:
        lines = [f"- {line}" for line in self.summary] + [""]
        lines.append("| " + " | ".join(self.header()[:-1] + ["met"]) + " |")
        lines.append("|" + "---|" * len(self.header()))
        lines += ["| " + " | ".join(row) + " |" for row in self.rows()]
        return "\n".join(lines + ["", self.footer + ".", "", "```", *self.closing_lines(), "```", ""])

    def closing_lines(self) -> list[str]:
        """The --real summary line (when those sets ran), then the last line."""
        values = self.metrics()
        real = [(name, value) for name, value in values.items() if name.startswith("real-")]
        lines = []
        if real:
            worst_lock = max((v for n, v in real if n.startswith("real-lock")), default=float("nan"))
            worst_install = max((v for n, v in real if n.startswith("real-install")), default=float("nan"))
            lines.append(f"real-lock-ratio={worst_lock:.2f} real-install-ratio={worst_install:.2f} (worst set)")
        return lines + [self.last_line()]

    def last_line(self) -> str:
        values = self.metrics()
        return " ".join(f"{name}={values[name]:.{3 if name == 'lock-bytes-fraction' else 2}f}" for name in LAST_LINE)

"""What a lock changed that a person must hear about: the Python, the core packages and their core lock."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..lockfile import Lock
from .build_python import BuildPython
from .python import minor


@dataclass(frozen=True)
class Note:
    level: str  # "note" | "warning"
    message: str


@dataclass
class LockReport:
    lockfile: Path
    lock: Lock
    previous: Lock | None
    python_changes: dict[str, tuple[str, str]] = field(default_factory=dict)  # platform -> (old, new)
    core_changes: dict[str, list[tuple[str, str | None, str | None]]] = field(default_factory=dict)
    core_lock_changes: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)  # labels
    notes: list[Note] = field(default_factory=list)
    unchanged: bool = False
    build_pythons: dict[str, BuildPython] = field(default_factory=dict)  # platform -> interpreter
    built: dict[str, list[str]] = field(default_factory=dict)  # platform -> names whose metadata uv built

    def build_notes(self, platform: str) -> list[str]:
        chosen = self.build_pythons.get(platform)
        return chosen.notes(self.built.get(platform, [])) if chosen else []

    def lines(self) -> list[str]:
        out = []
        for platform in sorted(set(self.python_changes) | set(self.core_changes)):
            if platform in self.python_changes:
                old, new = self.python_changes[platform]
                out.append(f"Python {old} -> {new} ({platform})")
            out.append(f"  core packages for {platform}, {self._source(platform)}:")
            rows = self.core_changes.get(platform, [])
            out += [f"    {_row(name, old, new)}" for name, old, new in rows if old != new]
            same = [f"{name} {new}" for name, old, new in rows if old == new]
            if same:
                out.append(f"    unchanged: {', '.join(same)}")
            if not rows:
                out.append("    (none)")
        for platform in self.lock.platforms:
            conda, pip = self.lock.for_platform(platform)
            out.append(f"Locked {platform}: Python {self.lock.python.get(platform)}, {len(conda)} conda and "
                       f"{len(pip)} PyPI packages -> {self.lockfile}")
            out += [f"  {line}" for line in self.build_notes(platform)]
        return out

    def _source(self, platform: str) -> str:
        old, new = self.core_lock_changes.get(platform, (None, None))
        if old == new and new and platform not in self.python_changes:
            return f"core lock {new}, refreshed since the last lock"
        if old == new:
            return f"core lock {new}" if new else "resolved from the core set's open ranges"
        return f"core lock {old or '(none: open ranges)'} -> {new or '(none: open ranges)'}"

    def as_data(self) -> dict[str, Any]:
        return {"python_changes": {p: {"old": o, "new": n} for p, (o, n) in self.python_changes.items()},
                "core_changes": {p: [{"name": n, "old": o, "new": v} for n, o, v in rows]
                                 for p, rows in self.core_changes.items()},
                "core_locks": {p: (self.lock.core_locks.get(p) or {}).get("file") for p in self.lock.platforms},
                "notes": [{"level": n.level, "message": n.message} for n in self.notes],
                "build_python": {p: c.as_data(self.built.get(p, [])) for p, c in self.build_pythons.items()}}


def _row(name: str, old: str | None, new: str | None) -> str:
    if old is None:
        return f"{name} {new} (added)"
    if new is None:
        return f"{name} {old} (removed)"
    return f"{name} {old} -> {new}"


def build(path: Path, lock: Lock, previous: Lock | None, default_python: str) -> LockReport:
    """Python changes (a first lock counts as one from the default), and for every platform whose Python
    or core lock changed, every core package with its old and new version."""
    report = LockReport(path, lock, previous)
    for platform, new in lock.python.items():
        old = previous.python.get(platform) if previous else None
        if (old is not None and minor(old) != minor(new)) or (old is None and minor(new) != default_python):
            report.python_changes[platform] = (old or f"{default_python} (default)", new)
        old_lock = (previous.core_locks.get(platform) or {}) if previous else {}
        new_lock = lock.core_locks.get(platform) or {}
        lock_moved = previous is not None and old_lock.get("sha256") != new_lock.get("sha256")
        if platform in report.python_changes or lock_moved:
            report.core_lock_changes[platform] = (old_lock.get("file"), new_lock.get("file"))
            report.core_changes[platform] = _core_rows(lock, previous, platform)
    return report


def _core_rows(lock: Lock, previous: Lock | None, platform: str) -> list[tuple[str, str | None, str | None]]:
    before = {e.name: e.version for e in (previous.pip if previous else []) if e.platform == platform}
    after = {e.name: e.version for e in lock.pip if e.platform == platform}
    names = sorted(set(lock.core) | set(previous.core if previous else []))
    return [(n, before.get(n), after.get(n)) for n in names if before.get(n) or after.get(n)]

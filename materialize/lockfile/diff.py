"""Compare two lockfiles, or git revisions of one: per platform, the conda and PyPI packages that
were added, removed, upgraded, downgraded or changed (same version, another build or artifact).

An argument is a lockfile path; else ``REV:path`` (the path relative to the current directory,
like ``git show REV:./path``); else ``REV``, the project lockfile of the current directory at that
revision. Git runs through proc.py.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import lockfile
from ..engines import proc
from ..errors import InputError
from . import Lock

KINDS = ("added", "removed", "upgraded", "downgraded", "changed")
MANAGERS = ("conda", "pypi")
_MARK = {"added": "+", "removed": "-", "upgraded": "^", "downgraded": "v", "changed": "~"}


@dataclass(frozen=True)
class Package:
    version: str
    build: str | None  # None for PyPI
    url: str
    sha256: str

    def as_data(self) -> dict[str, Any]:
        data = {"version": self.version, "url": self.url}
        if self.build is not None:
            data["build"] = self.build
        return data


@dataclass(frozen=True)
class Change:
    platform: str
    manager: str  # "conda" | "pypi"
    kind: str  # one of KINDS
    name: str
    old: Package | None
    new: Package | None

    def line(self) -> str:
        old, new = self.old, self.new
        if self.kind == "added":
            text = f"{self.name} {_version(new)}"
        elif self.kind == "removed":
            text = f"{self.name} {_version(old)}"
        elif self.kind == "changed":
            text = f"{self.name} {old.version}: {_what_changed(old, new)}"
        else:
            text = f"{self.name} {_version(old)} -> {_version(new)}"
        return f"  {self.manager:<5}  {_MARK[self.kind]} {text}"

    def as_data(self) -> dict[str, Any]:
        return {"name": self.name, "old": self.old.as_data() if self.old else None,
                "new": self.new.as_data() if self.new else None}


def _version(package: Package | None) -> str:
    return package.version if package is not None else ""


def _what_changed(old: Package, new: Package) -> str:
    if old.build is not None and old.build != new.build:
        return f"build {old.build} -> {new.build}"
    old_file, new_file = (p.url.split("#", 1)[0].rsplit("/", 1)[-1] for p in (old, new))
    if old_file != new_file:
        return f"{old_file} -> {new_file}"
    if old.url != new.url:
        return f"same file from another URL ({old.url} -> {new.url})"
    return "another sha256 for the same file name (a rebuilt artifact, or a changed local project)"


@dataclass
class Result:
    old: str
    new: str
    old_platforms: list[str]
    new_platforms: list[str]
    changes: list[Change] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not self.changes and self.old_platforms == self.new_platforms

    def summary(self) -> dict[str, int]:
        return {kind: sum(1 for c in self.changes if c.kind == kind) for kind in KINDS}

    def lines(self) -> list[str]:
        if self.identical:
            return [f"No differences between {self.old} and {self.new}"]
        lines = [f"{self.old} -> {self.new}"]
        for platform in sorted(set(self.old_platforms) | set(self.new_platforms)):
            lines += self._platform_lines(platform)
        summary = self.summary()
        lines.append(f"{sum(summary.values())} changes: " + ", ".join(f"{n} {kind}" for kind, n in summary.items()))
        return lines

    def _platform_lines(self, platform: str) -> list[str]:
        changes = [c for c in self.changes if c.platform == platform]
        if platform not in self.old_platforms or platform not in self.new_platforms:
            conda = sum(1 for c in changes if c.manager == "conda")
            what = "new platform" if platform not in self.old_platforms else "platform removed"
            return [f"{platform}: {what} ({conda} conda and {len(changes) - conda} PyPI packages)"]
        if not changes:
            return [f"{platform}: no changes"]
        return [f"{platform}:", *(c.line() for c in changes)]

    def as_data(self) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        for platform in sorted(set(self.old_platforms) | set(self.new_platforms)):
            changes[platform] = {manager: {kind: [c.as_data() for c in self.changes if
                                                  (c.platform, c.manager, c.kind) == (platform, manager, kind)]
                                           for kind in KINDS} for manager in MANAGERS}
        old, new = set(self.old_platforms), set(self.new_platforms)
        return {"old": self.old, "new": self.new, "identical": self.identical, "summary": self.summary(),
                "platforms": {"old": self.old_platforms, "new": self.new_platforms,
                              "added": sorted(new - old), "removed": sorted(old - new)},
                "changes": changes}


def compare(old: str, new: str) -> Result:
    cwd = Path.cwd()
    before, after = load(old, cwd), load(new, cwd)
    result = Result(old, new, sorted(before.platforms), sorted(after.platforms))
    for platform in sorted(set(before.platforms) | set(after.platforms)):
        for manager in MANAGERS:
            a, b = _packages(before, platform, manager), _packages(after, platform, manager)
            result.changes += _compare(platform, manager, a, b)
    return result


def _packages(lock: Lock, platform: str, manager: str) -> dict[str, Package]:
    if platform not in lock.platforms:
        return {}
    conda, pip = lock.for_platform(platform)
    if manager == "conda":
        return {e.name: Package(e.version, e.build, e.url, e.sha256) for e in conda}
    found = {e.name: Package(e.version, None, e.url, e.sha256) for e in pip}
    for project in lock.local_projects:  # built from source on every platform
        found[project["name"]] = Package(project.get("version", ""), None, project.get("path", ""),
                                         project.get("digest", ""))
    return found


def _compare(platform: str, manager: str, old: dict[str, Package], new: dict[str, Package]) -> list[Change]:
    changes = []
    for name in sorted(set(old) | set(new)):
        a, b = old.get(name), new.get(name)
        if a == b:
            continue
        if a is None or b is None:
            kind = "added" if a is None else "removed"
        else:
            order = _order(manager, a.version, b.version)
            kind = {1: "upgraded", -1: "downgraded"}.get(order, "changed")
        changes.append(Change(platform, manager, kind, name, a, b))
    return changes


def _order(manager: str, old: str, new: str) -> int:
    if old == new:
        return 0
    if manager == "conda":
        from ..engines import conda as conda_engine

        return conda_engine.version_order(old, new)
    from packaging.version import InvalidVersion, Version

    try:
        a, b = Version(old), Version(new)
    except InvalidVersion:
        return 0
    return (a < b) - (a > b)


# --- reading one side ---------------------------------------------------------------------------


def load(spec: str, cwd: Path) -> Lock:
    path = Path(spec)
    if path.is_file():
        return lockfile.read(path)
    if ":" in spec:
        revision, _, name = spec.partition(":")
    else:
        revision, name = spec, _project_lockfile(cwd)
    return _parse(_git_show(revision, name, spec, cwd), spec)


def _project_lockfile(cwd: Path) -> str:
    from .. import settings

    configured = Path(settings.load(cwd, {})["lockfile"])
    return os.path.relpath(configured, cwd) if configured.is_absolute() else str(configured)


def _git_show(revision: str, name: str, spec: str, cwd: Path) -> str:
    relative = os.path.relpath(name, cwd) if os.path.isabs(name) else name
    if not relative.startswith(("./", "../")):
        relative = "./" + relative
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        done = proc.run(["git", "show", f"{revision}:{relative}"], env=env, cwd=cwd, timeout=60)
    except OSError as err:
        raise InputError(f"{spec!r} is not a lockfile, and git cannot run to read it as a revision ({err})",
                         hint="install git, or pass a lockfile path") from err
    if done.returncode:
        raise InputError(f"{spec!r} is neither a lockfile nor a git revision of one: {done.tail(1)}",
                         hint="pass a lockfile path, REV:path (e.g. HEAD~1:materialize-lock.yml) or REV")
    return done.stdout


def _parse(text: str, label: str) -> Lock:
    """lockfile.read wants a path: a private temp file, whose name is swapped for ``label`` in errors."""
    with tempfile.TemporaryDirectory(prefix="materialize-diff-") as folder:
        path = Path(folder) / "from-git-lock.yml"
        path.write_text(text, encoding="utf-8")
        try:
            return lockfile.read(path)
        except InputError as err:
            raise InputError(err.message.replace(str(path), label).replace(path.name, label),
                             hint=err.hint) from err

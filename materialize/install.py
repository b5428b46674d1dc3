"""Lockfile -> prefix: conda packages linked by rattler, then PyPI packages by uv; never resolving again.

Order of work, each step safe to repeat after a crash: clear the stamp, (rebuild when the Python
minor version changed), fetch and verify every conda archive, link, normalize conda-meta, sync
the PyPI part, write the manifest, and last the stamp.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__, cache, conda_meta, fetch, lockfile, platforms, prefix_state, project as projects
from .errors import InputError
from .settings import Settings
from .ui import Console


@dataclass
class InstallOptions:
    lockfile: Path
    prefix: Path
    project: Path
    settings: Settings
    offline: bool = False


@dataclass
class InstallReport:
    prefix: Path
    platform: str
    python: str
    status: str  # "installed" | "updated" | "rebuilt" | "up-to-date"
    previous_python: str | None = None
    conda_changed: list[str] = field(default_factory=list)
    conda_removed: list[str] = field(default_factory=list)
    pypi_changed: list[str] = field(default_factory=list)
    pypi_removed: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        if self.status == "up-to-date":
            return [f"{self.prefix} is up to date"]
        lines = []
        if self.status == "rebuilt":
            lines.append(f"Python changed {self.previous_python} -> {self.python}: rebuilt {self.prefix} from scratch "
                         "(core packages reinstalled for the new Python)")
        lines.append(f"Installed {self.prefix} ({self.platform}, Python {self.python}): conda "
                     f"+{len(self.conda_changed)} -{len(self.conda_removed)}, PyPI +{len(self.pypi_changed)} "
                     f"-{len(self.pypi_removed)} in {self.seconds:.1f}s")
        return lines

    def as_data(self) -> dict[str, Any]:
        return {"prefix": str(self.prefix), "platform": self.platform, "python": self.python, "status": self.status,
                "previous_python": self.previous_python, "conda": {"changed": self.conda_changed,
                "removed": self.conda_removed}, "pypi": {"changed": self.pypi_changed, "removed": self.pypi_removed}}


def _minor(version: str | None) -> str | None:
    return ".".join(version.split(".")[:2]) if version else None


def install(options: InstallOptions, console: Console) -> InstallReport:
    started = time.monotonic()
    digest = lockfile.file_digest(options.lockfile)
    lock = lockfile.read(options.lockfile)
    platform = platforms.host()
    if platform not in lock.platforms:
        raise InputError(f"{options.lockfile.name}: has no packages for this machine's platform {platform} "
                         f"(it has: {', '.join(lock.platforms)})", hint=f"materialize lock --platform {platform}")
    conda_entries, pip_entries = lock.for_platform(platform)
    prefix = options.prefix
    prefix.mkdir(parents=True, exist_ok=True)
    with cache.file_lock(prefix / prefix_state.STATE_DIR / "lock", f"the prefix {prefix}"):
        if prefix_state.is_fresh(prefix, digest, __version__):  # another process finished the same work
            return InstallReport(prefix, platform, lock.python.get(platform, ""), "up-to-date")
        report = InstallReport(prefix, platform, lock.python.get(platform, ""), "installed")
        prefix_state.clear_stamp(prefix)
        before = _conda_installed(prefix)
        old_python = conda_meta.installed_python(prefix)
        if old_python and _minor(old_python) != _minor(report.python):
            _empty(prefix)
            report.status, report.previous_python, before = "rebuilt", old_python, {}
        elif before:
            report.status = "updated"
        console.progress(f"fetching {len(conda_entries)} conda packages ...")
        archives = [_verified_archive(e, options.offline) for e in conda_entries]
        console.progress("linking conda packages ...")
        from . import conda_engine

        conda_engine.link(archives, prefix, cache.bucket(cache.RATTLER), platform)
        conda_meta.normalize(prefix, {e.name: e for e in conda_entries}, lock.channels)
        after = _conda_installed(prefix)
        report.conda_changed = sorted(n for n, v in after.items() if before.get(n) != v)
        report.conda_removed = sorted(set(before) - set(after))
        console.progress(f"installing {len(pip_entries)} PyPI packages ...")
        report.pypi_changed, report.pypi_removed = _sync_pypi(options, lock, pip_entries)
        console.progress("writing the manifest ...")
        prefix_state.write_manifest(prefix, prefix_state.scan(prefix))
        prefix_state.write_stamp(prefix, prefix_state.Stamp(digest, platform, report.python, __version__))
        console.done_progress()
    report.seconds = time.monotonic() - started
    return report


def _verified_archive(entry: lockfile.CondaEntry, offline: bool) -> Path:
    cached = fetch.cached_path(entry.url, entry.sha256)
    if cached.is_file():
        fetch.verify_cached(cached, entry.sha256)
        return cached
    return fetch.fetch(entry.url, entry.sha256, offline=offline)


def _sync_pypi(options: InstallOptions, lock: lockfile.Lock, entries: list[lockfile.PipEntry]):
    from . import pypi_install

    if not entries and not lock.local_projects and not (options.prefix / "conda-meta").is_dir():
        return [], []
    project = _project_for_credentials(options)
    plan = pypi_install.PipPlan(
        prefix=options.prefix, entries=entries, local_projects=lock.local_projects, project=options.project,
        variables=project.variables if project else {},
        credentials=project.indexes.credentials if project else pypi_install.Credentials(),
        index_args=project.indexes.uv_args(options.settings["index-strategy"]) if project else [],
        offline=options.offline)
    return pypi_install.sync(plan)


def _project_for_credentials(options: InstallOptions):
    """The project folder supplies credentials (pip.conf, .env); the lockfile alone supplies the pins."""
    try:
        return projects.load(options.project, options.settings)
    except InputError:
        return None


def _conda_installed(prefix: Path) -> dict[str, str]:
    import json

    found = {}
    for path in (prefix / "conda-meta").glob("*.json"):
        try:
            data = json.loads(path.read_text())
            found[data["name"]] = f"{data['version']}-{data.get('build', '')}"
        except (ValueError, KeyError):
            continue
    return found


def _empty(prefix: Path) -> None:
    """Remove everything in the prefix except our state folder (the prefix may be a mount point)."""
    for child in prefix.iterdir():
        if child.name == prefix_state.STATE_DIR:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def fetch_all(lockfile_path: Path, console: Console) -> int:
    lock = lockfile.read(lockfile_path)
    for entry in lock.conda:
        console.progress(f"fetching {entry.name} ...")
        _verified_archive(entry, offline=False)
    console.done_progress()
    return len(lock.conda)

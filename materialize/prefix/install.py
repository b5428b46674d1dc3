"""Lockfile -> prefix: conda packages linked by rattler, then PyPI packages by uv; never resolving again.

Order of work, each step safe to repeat after a crash (a kill -9 at any moment, then a re-run,
ends with a prefix that ``verify`` accepts):

1. take the prefix lock; return at once when the stamp says this lockfile is installed;
2. fetch every artifact into the cache and check its sha256 against the lockfile; refuse a PyPI
   entry that would replace a distribution a conda package provides. Nothing in the prefix has
   changed yet: a download error, a hash mismatch or a tampered lockfile leaves the previous
   environment exactly as it was (stamp included, so ``verify`` still accepts it);
3. clear the stamp: from here on the prefix counts as incomplete until step 7;
4. (rebuild from scratch when the Python minor version changed); drop what a killed run left in
   conda-meta; uninstall the uv-installed distributions the lock no longer holds;
5. link the conda packages (rattler adds, removes, replaces; copies, never hardlinks into the
   cache), normalize conda-meta;
6. install the changed PyPI artifacts with uv from the verified cache;
7. write the manifest, and last the stamp.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__, cache, lockfile, platforms
from . import conda_meta, logins, state as prefix_state
from ..engines import fetch
from ..inputs import project as projects
from ..errors import InputError, IntegrityError
from ..settings import Settings
from ..ui import Console


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


@dataclass
class _Work:
    """What one install run works from: the lock's entries for this platform and the verified artifacts."""

    lock: lockfile.Lock
    conda: list[lockfile.CondaEntry]
    pip: list[lockfile.PipEntry]
    project: Any  # projects.Project | None: credentials (pip.conf, .env) and local project sources
    archives: list[Path] = field(default_factory=list)
    prefix: Path | None = None
    interrupted: bool = False  # an earlier run was killed half-way (no stamp, but a conda-meta)
    conda_unchanged: bool = False  # conda-meta already holds exactly the lock's conda packages
    wheels: dict[str, Path] = field(default_factory=dict)


def _minor(version: str | None) -> str | None:
    return ".".join(version.split(".")[:2]) if version else None


def install(options: InstallOptions, console: Console) -> InstallReport:
    started = time.monotonic()
    lock = lockfile.read(options.lockfile)  # first: a missing lockfile is an input error (exit 3)
    digest = lockfile.file_digest(options.lockfile)
    platform = platforms.host()
    if platform not in lock.platforms:
        raise InputError(f"{options.lockfile.name}: has no packages for this machine's platform {platform} "
                         f"(it has: {', '.join(lock.platforms)})", hint=f"materialize lock --platform {platform}")
    prefix = options.prefix
    prefix.mkdir(parents=True, exist_ok=True)
    with cache.file_lock(prefix / prefix_state.STATE_DIR / "lock", f"the prefix {prefix}"):
        report = InstallReport(prefix, platform, lock.python.get(platform, ""), "installed")
        if prefix_state.is_fresh(prefix, digest, __version__):  # another process finished the same work
            report.status = "up-to-date"
            return report
        work = _Work(lock, *lock.for_platform(platform), _project_for_credentials(options), prefix=prefix,
                     interrupted=prefix_state.read_stamp(prefix) is None and (prefix / "conda-meta").is_dir())
        old_python = conda_meta.installed_python(prefix)
        rebuild = bool(old_python and report.python) and _minor(old_python) != _minor(report.python)
        _fetch(work, prefix, rebuild, options.offline, console)
        _refuse_overlap(work)
        prefix_state.clear_stamp(prefix)  # from here on the prefix is incomplete until the stamp is back
        if rebuild:
            _empty(prefix)
            report.status, report.previous_python = "rebuilt", old_python
        _apply(options, work, report, console)
        console.progress("writing the manifest ...")
        prefix_state.write_manifest(prefix, prefix_state.scan(prefix, prefix_state.installed_digests(prefix)))
        prefix_state.write_stamp(prefix, prefix_state.Stamp(digest, platform, report.python, __version__))
        console.done_progress()
    report.seconds = time.monotonic() - started
    return report


def _fetch(work: _Work, prefix: Path, rebuild: bool, offline: bool, console: Console) -> None:
    """Every conda archive, and every wheel the prefix does not hold yet, verified in the cache."""
    from . import pypi as pypi_install

    credentials = _credentials(work.project)
    hashed = [e for e in work.pip if e.sha256]
    needed = hashed if rebuild else pypi_install.needed(prefix, hashed)
    logins.require(work.lock, work.pip, needed, prefix, rebuild, _variables(work.project), credentials)
    work.conda_unchanged = not rebuild and conda_meta.holds_exactly(prefix, work.conda)
    conda = [] if work.conda_unchanged else [fetch.Artifact(e.url, e.sha256, cache.CONDA_ARCHIVES) for e in work.conda]
    wheels = [fetch.Artifact(e.url, e.sha256, cache.WHEELS) for e in needed]
    with console.task("fetching and verifying", len(conda) + len(wheels)) as task:
        paths = fetch.verified_all(conda + wheels, offline=offline, credentials=credentials, on_done=task.advance)
    work.archives = paths[: len(conda)]
    work.wheels = {e.name: path for e, path in zip(needed, paths[len(conda):])}


def _refuse_overlap(work: _Work) -> None:
    """PyPI never replaces a distribution that a conda package provides: a lockfile asking for that
    was altered (the lock step leaves conda-provided names out of the PyPI part)."""
    from ..engines import conda as conda_engine
    from . import pypi as pypi_install

    if work.conda_unchanged:
        provided = conda_meta.python_distributions(work.prefix)
    else:
        provided = {pypi_install.canonical_name(dist): entry.name for entry, archive in zip(work.conda, work.archives)
                    for dist, _ in conda_engine.python_distributions(archive, entry.sha256)}
    clash = sorted({pypi_install.canonical_name(e.name) for e in work.pip} & set(provided))
    if clash:
        packages = ", ".join(sorted({provided[name] for name in clash}))
        raise IntegrityError(f"the lockfile installs {', '.join(clash)} from PyPI, but the conda package(s) "
                             f"{packages} provide it; refusing to replace conda-owned files",
                             hint="re-create the lockfile with 'materialize lock'")


def _apply(options: InstallOptions, work: _Work, report: InstallReport, console: Console) -> None:
    from ..engines import conda as conda_engine
    from . import pypi as pypi_install

    prefix = options.prefix
    before = conda_meta.installed(prefix)
    if before and report.status == "installed":
        report.status = "updated"
    conda_meta.repair(prefix)  # what a killed run left: rattler's and uv's temp files, broken records
    if work.interrupted:  # leftovers exist only where an earlier run was killed: no walk of the prefix otherwise
        pypi_install.remove_leftovers(prefix)
    wanted = pypi_install.wanted_names(work.pip, work.lock.local_projects)
    report.pypi_removed = pypi_install.remove_stale(prefix, wanted)
    if not work.conda_unchanged:
        console.progress("linking conda packages ...")
        conda_engine.link(work.archives, prefix, cache.bucket(cache.RATTLER), report.platform,
                          [e.sha256 for e in work.conda])
        conda_meta.normalize(prefix, {e.name: e for e in work.conda}, work.lock.channels)
    after = conda_meta.installed(prefix)
    report.conda_changed = sorted(n for n, v in after.items() if before.get(n) != v)
    report.conda_removed = sorted(set(before) - set(after))
    console.progress(f"installing {len(work.pip)} PyPI packages ...")
    report.pypi_changed = _install_pypi(options, work)


def _install_pypi(options: InstallOptions, work: _Work) -> list[str]:
    from . import pypi as pypi_install

    if not work.pip and not work.lock.local_projects:
        return []
    project = work.project
    plan = pypi_install.PipPlan(
        prefix=options.prefix, entries=work.pip, local_projects=work.lock.local_projects, project=options.project,
        variables=_variables(project), credentials=_credentials(project),
        index_args=project.indexes.uv_args(options.settings["index-strategy"]) if project else [],
        index_config=project.indexes.uv_config() if project else None,
        offline=options.offline, artifacts=work.wheels, lockfile_name=options.lockfile.name)
    return pypi_install.install(plan)


def _variables(project) -> dict[str, str]:
    """For ${VAR}s in the lockfile's URLs: the environment, and the project's .env when it is here."""
    import os

    return project.variables if project is not None else dict(os.environ)


def _credentials(project):
    from ..secrets import Credentials

    return project.indexes.credentials if project is not None else Credentials()


def _project_for_credentials(options: InstallOptions):
    """The project folder supplies credentials (pip.conf, .env); the lockfile alone supplies the pins."""
    try:
        return projects.load(options.project, options.settings)
    except InputError:
        return None


def _empty(prefix: Path) -> None:
    """Remove everything in the prefix except our state folder (the prefix may be a mount point).

    conda-meta goes last: a run killed half-way still sees the old Python and empties again."""
    children = sorted(prefix.iterdir(), key=lambda child: child.name == "conda-meta")
    for child in children:
        if child.name == prefix_state.STATE_DIR:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def fetch_all(lockfile_path: Path, project_dir: Path, settings: Settings, console: Console) -> dict[str, Any]:
    """Warm the cache with every artifact of the lockfile, all platforms (for air-gapped installs)."""
    lock = lockfile.read(lockfile_path)
    project = _project_for_credentials(InstallOptions(lockfile_path, project_dir, project_dir, settings))
    conda = [fetch.Artifact(e.url, e.sha256, cache.CONDA_ARCHIVES) for e in lock.conda]
    wheels = [fetch.Artifact(e.url, e.sha256, cache.WHEELS) for e in lock.pip if e.sha256]
    unique = list(dict.fromkeys(conda + wheels))
    console.progress(f"fetching {len(unique)} artifacts ...")
    fetch.verified_all(unique, credentials=_credentials(project))
    console.done_progress()
    skipped = sorted({e.name for e in lock.pip if not e.sha256} | {p["name"] for p in lock.local_projects})
    return {"artifacts": len(unique), "conda": len(set(conda)), "pypi": len(set(wheels)), "not_fetched": skipped}

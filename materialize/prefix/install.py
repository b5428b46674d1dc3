"""Lockfile -> prefix: what the lock wants for this platform, the artifacts verified in the cache,
then the prefix's owner makes it so. Never resolving again.

Order of work, each step safe to repeat after a crash:

1. take the prefix lock (held by every child too); return at once when the stamp says this
   lockfile is installed and the package records are as it left them;
2. decide what stays (checking every file when the last run did not finish, the records changed
   behind our back, or ``--repair`` asks);
3. fetch every artifact that is not staying and check its sha256 against the lockfile; refuse a
   PyPI entry that would replace a distribution a conda package provides (the first time this
   lockfile is installed on this machine: its answer is remembered by the lockfile's sha256).
   Nothing in the prefix has changed yet: a download error, a hash mismatch or a tampered
   lockfile leaves the previous environment exactly as it was, stamp included;
4. the owner changes the prefix (``owner.Prefix.become``), writing the stamp last.
"""

from __future__ import annotations

import errno
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import __version__, cache, lockfile, platforms
from ..engines import fetch
from ..errors import FetchError, InputError, IntegrityError
from ..secrets import strip_literal_credentials
from ..settings import Settings
from ..ui import Console
from . import logins, state
from .desired import CondaWant, PypiWant, Want, conda_python_dists
from .expected import STATE_DIR, site_packages
from .lock import PrefixLock
from .owner import Changes, Decision, Prefix
from .project_inputs import ProjectInputs
from .pypi import PipPlan


@dataclass
class InstallOptions:
    lockfile: Path
    prefix: Path
    project: Path
    settings: Settings
    offline: bool = False
    repair: bool = False


@dataclass
class InstallReport:
    prefix: Path
    platform: str
    python: str
    status: str  # "installed" | "updated" | "rebuilt" | "repaired" | "up-to-date"
    previous_python: str | None = None
    changes: Changes | None = None
    seconds: float = 0.0

    def lines(self) -> list[str]:
        if self.status == "up-to-date":
            return [f"{self.prefix} is up to date"]
        lines = []
        c = self.changes
        if self.status == "rebuilt":
            lines.append(f"Python changed {self.previous_python} -> {self.python}: rebuilt {self.prefix} from scratch "
                         "(core packages reinstalled for the new Python)")
        elif c is not None and c.why:
            lines.append(f"Checked every file of {self.prefix} ({c.why}): "
                         + (f"reinstalled {len(c.drifted)} altered packages ({', '.join(c.drifted)}), "
                            if c.drifted else "") + f"removed {len(c.cleared)} unexpected files")
        lines.append(f"Installed {self.prefix} ({self.platform}, Python {self.python}): conda "
                     f"+{len(c.conda_added)} -{len(c.conda_removed)}, PyPI +{len(c.pypi_added)} "
                     f"-{len(c.pypi_removed)} in {self.seconds:.1f}s")
        return lines

    def as_data(self) -> dict[str, Any]:
        c = self.changes or Changes("trusting")
        return {"prefix": str(self.prefix), "platform": self.platform, "python": self.python, "status": self.status,
                "previous_python": self.previous_python, "checked": c.why or None, "drifted": c.drifted,
                "cleared": c.cleared, "conda": {"changed": c.conda_added, "removed": c.conda_removed},
                "pypi": {"changed": c.pypi_added, "removed": c.pypi_removed}}


def install(options: InstallOptions, console: Console) -> InstallReport:
    started = time.monotonic()
    lock = lockfile.read(options.lockfile)  # first: a missing lockfile is an input error (exit 3)
    digest = lockfile.file_digest(options.lockfile)
    platform = platforms.host()
    if platform not in lock.platforms:
        raise InputError(f"{options.lockfile.name}: has no packages for this machine's platform {platform} "
                         f"(it has: {', '.join(lock.platforms)})", hint=f"materialize lock --platform {platform}")
    prefix = options.prefix
    os.umask(0o022)  # the same modes on every machine, whatever the caller's umask
    with prefix_errors(prefix):
        _prepare(prefix)
        with PrefixLock(prefix):
            owner = Prefix(prefix, __version__)
            report = InstallReport(prefix, platform, lock.python.get(platform, ""), "installed")
            if not options.repair and state.is_current(prefix, digest, __version__):
                report.status = "up-to-date"  # another process finished the same work
                return report
            inputs = ProjectInputs(options.project, options.settings)
            want = wanted(lock, digest, platform)
            add_local_projects(want, lock, options.project, options.lockfile.name)
            decision = owner.decide(want, repair=options.repair)
            logins.require(lock.credentials, [w for w in want.pypi if w.key not in decision.keep], inputs)
            _fetch(want, decision, inputs, options.offline, console)
            _refuse_overlap(want, decision)
            plan = PipPlan(prefix=options.prefix, python=want.python, project=options.project, inputs=inputs,
                           offline=options.offline)
            console.progress("installing ...")
            report.changes = owner.become(want, plan, decision)
            console.done_progress()
            _status(report, decision, want)
    report.seconds = time.monotonic() - started
    return report


def wanted(lock: lockfile.Lock, digest: str, platform: str) -> Want:
    """The lock's packages for ``platform``, without their artifacts yet."""
    conda, pip = lock.for_platform(platform)
    python = lock.python.get(platform, "")
    want = Want(digest, platform, python, list(lock.channels))
    requested = lock.requested.get(platform, {})
    want.conda = [CondaWant(e, requested=tuple(requested.get(e.name, ()))) for e in conda]
    for e in pip:
        kind = "vcs" if not e.sha256 else "wheel" if e.url.split("#")[0].endswith(".whl") else "sdist"
        identity = e.sha256 or strip_literal_credentials(e.url)  # never a login in the prefix's state
        want.pypi.append(PypiWant(_canonical(e.name), e.version, identity, kind, e.url, e.sha256))
    return want


def add_local_projects(want: Want, lock: lockfile.Lock, project: Path, lockfile_name: str) -> None:
    from ..lockfile.digest import source_tree

    for local in lock.local_projects:
        source = (project / local["path"]).resolve()
        digest = source_tree(source, {lockfile_name}) if source.is_dir() else local.get("digest", "")
        want.pypi.append(PypiWant(_canonical(local["name"]), local["version"], "source:" + digest, "local",
                                  local["path"]))


_CANONICAL = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def _canonical(name: str) -> str:
    """PEP 503's form of ``name``; the names materialize writes in a lockfile already are (and
    importing packaging's utils takes ~15 ms)."""
    if _CANONICAL.fullmatch(name):
        return name
    from packaging.utils import canonicalize_name

    return canonicalize_name(name)


def _fetch(want: Want, decision: Decision, inputs: ProjectInputs, offline: bool, console: Console) -> None:
    """Every artifact not staying, verified in the cache (what they hold is read when needed)."""
    conda = [w for w in want.conda if w.key not in decision.keep]
    wheels = [w for w in want.pypi if w.key not in decision.keep and w.sha256]
    artifacts = ([fetch.Artifact(w.entry.url, w.entry.sha256, cache.CONDA_ARCHIVES) for w in conda]
                 + [fetch.Artifact(w.url, w.sha256, cache.WHEELS) for w in wheels])
    with console.task("fetching and verifying", len(artifacts)) as task:
        paths = fetch.verified_all(artifacts, offline=offline, credentials=lambda: inputs.credentials,
                                   on_done=task.advance)
    for w, path in zip(conda + wheels, paths):
        if isinstance(w, CondaWant):
            w.archive = path
        else:
            w.artifact = path


def _refuse_overlap(want: Want, decision: Decision) -> None:
    """PyPI never replaces a distribution that a conda package provides: a lockfile asking for that
    was altered (the lock step leaves conda-provided names out of the PyPI part). The answer depends
    on the lockfile's bytes and the platform only (a kept package holds what its archive holds), so
    a lockfile found clean is remembered as such, by its sha256."""
    memo = cache.root() / cache.NO_OVERLAP / f"{want.lock_digest}-{want.platform}"
    if not want.pypi or memo.exists():
        return
    site = site_packages(want.python)
    provided = {}
    for w in want.conda:
        kept = decision.keep.get(w.key)
        paths = kept.paths() if kept is not None else w.files(want.python).paths
        for dist in conda_python_dists(paths, site):
            provided[dist] = w.entry.name
    clash = sorted({w.name for w in want.pypi} & set(provided))
    if clash:
        packages = ", ".join(sorted({provided[name] for name in clash}))
        raise IntegrityError(f"the lockfile installs {', '.join(clash)} from PyPI, but the conda package(s) "
                             f"{packages} provide it; refusing to replace conda-owned files",
                             hint="re-create the lockfile with 'materialize lock'")
    try:
        cache.remember(memo, "")
    except OSError:  # a read-only cache: checked on every install
        pass


def _status(report: InstallReport, decision: Decision, want: Want) -> None:
    previous = decision.previous
    if previous is not None and previous.python.split(".")[:2] != want.python.split(".")[:2]:
        report.status, report.previous_python = "rebuilt", previous.python
    elif decision.why == "--repair":
        report.status = "repaired"
    elif previous is not None:
        report.status = "updated"


def _prepare(prefix: Path) -> None:
    """The prefix is a folder that is empty, or already an environment of ours."""
    if prefix.exists() and not prefix.is_dir():
        raise InputError(f"{prefix}: exists and is not a folder", hint="pick another --prefix")
    prefix.mkdir(parents=True, exist_ok=True)
    children = [c.name for c in prefix.iterdir()]
    if children and STATE_DIR not in children:
        raise InputError(f"{prefix}: is not empty and is not an environment materialize made (no {STATE_DIR}/ "
                         "in it)", hint="pick an empty or new folder, or remove this one first")


class prefix_errors:
    """OS errors while changing the prefix, as the user can act on them: a full disk is exit 5, a
    read-only or forbidden path exit 3; both name the path."""

    def __init__(self, prefix: Path) -> None:
        self.prefix = prefix

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, err, traceback) -> bool:
        if not isinstance(err, OSError):
            return False
        where = err.filename or self.prefix
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise FetchError(f"{where}: no space left on the device while installing into {self.prefix}",
                             hint="free some space, then run 'materialize install' again: it finishes the job"
                             ) from err
        on_the_way = err.filename is not None and Path(err.filename) in (self.prefix, *self.prefix.parents)
        if err.errno in (errno.EROFS, errno.EACCES, errno.EPERM) or (
                on_the_way and err.errno in (errno.ENOTDIR, errno.EEXIST, errno.ENOENT)):
            raise InputError(f"{where}: {os.strerror(err.errno).lower()} (installing into {self.prefix})",
                             hint="pick a --prefix you can write to") from err
        return False


def fetch_all(lockfile_path: Path, project_dir: Path, settings: Settings, console: Console) -> dict[str, Any]:
    """Warm the cache with every artifact of the lockfile, all platforms (for air-gapped installs)."""
    lock = lockfile.read(lockfile_path)
    inputs = ProjectInputs(project_dir, settings)
    conda = [fetch.Artifact(e.url, e.sha256, cache.CONDA_ARCHIVES) for e in lock.conda]
    wheels = [fetch.Artifact(e.url, e.sha256, cache.WHEELS) for e in lock.pip if e.sha256]
    unique = list(dict.fromkeys(conda + wheels))
    console.progress(f"fetching {len(unique)} artifacts ...")
    fetch.verified_all(unique, credentials=lambda: inputs.credentials)
    console.done_progress()
    skipped = sorted({e.name for e in lock.pip if not e.sha256} | {p["name"] for p in lock.local_projects})
    return {"artifacts": len(unique), "conda": len(set(conda)), "pypi": len(set(wheels)), "not_fetched": skipped}

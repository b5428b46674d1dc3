"""Inputs -> Lockfile: the conda solve first, then the PyPI resolve against it, per platform."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..engines import conda as conda_engine, fetch
from ..lockfile import digest
from .. import lockfile, platforms as platform_names
from . import build_python, pypi as pypi_resolve
from ..inputs.conda_specs import FILENAME as CONDA_FILENAME, CondaSpec, parse_spec
from ..errors import InputError
from ..lockfile import CondaEntry, Lock, PipEntry
from ..inputs.project import Project
from ..settings import Settings

log = logging.getLogger(__name__)


@dataclass
class LockOptions:
    project: Project
    settings: Settings
    lockfile: Path
    platforms: list[str]
    upgrade: bool = False
    upgrade_packages: tuple[str, ...] = ()


@dataclass
class LockReport:
    lockfile: Path
    lock: Lock
    previous: Lock | None
    python_changes: dict[str, tuple[str | None, str]] = field(default_factory=dict)  # platform -> (old, new)
    core_changes: dict[str, list[tuple[str, str | None, str | None]]] = field(default_factory=dict)
    unchanged: bool = False
    warnings: list[str] = field(default_factory=list)
    build_pythons: dict[str, build_python.BuildPython] = field(default_factory=dict)  # platform -> interpreter
    built: dict[str, list[str]] = field(default_factory=dict)  # platform -> names whose metadata uv built

    def build_notes(self, platform: str) -> list[str]:
        chosen = self.build_pythons.get(platform)
        return chosen.notes(self.built.get(platform, [])) if chosen else []


def target_platforms(flags: list[str], settings: Settings, lockfile_path: Path | None = None) -> list[str]:
    """--platform flags, else the `platforms` setting, else the previous lockfile's, else this host's."""
    chosen = flags or settings["platforms"]
    if not chosen:
        previous = _previous(lockfile_path) if lockfile_path is not None else None
        chosen = previous.platforms if previous else [platform_names.host()]
    for name in chosen:
        if name not in platform_names.KNOWN:
            raise InputError(f"unknown platform {name!r} (known: {', '.join(platform_names.KNOWN)})")
    return sorted(dict.fromkeys(chosen))


def lock(options: LockOptions) -> LockReport:
    project, settings = options.project, options.settings
    previous, unreadable = _previous_or_why(options.lockfile)
    keep = None if options.upgrade else previous
    channels = [conda_engine.channel_url(c) for c in settings["channels"]]
    result = Lock(platforms=options.platforms, channels=channels, content_hash={},
                  sources=[p.relative_to(project.root).as_posix() for p in project.input_files
                           if p.is_relative_to(project.root)],
                  core_set=project.core_label, indexes=project.indexes.describe(), settings=settings.recorded())
    chosen: dict[str, build_python.BuildPython] = {}
    built: dict[str, list[str]] = {}
    host = platform_names.host()
    for platform in sorted(options.platforms, key=lambda p: p != host):  # the host's Python may serve the others
        known = {build_python.minor(c.version): c for c in chosen.values() if c.fits}
        interpreter, built[platform] = _lock_platform(options, platform, keep, result, known)
        if interpreter is not None:
            chosen[platform] = interpreter
        result.content_hash[platform] = content_hash(options, platform)
    result.core = sorted({e.name for e in project.core.entries if e.name})
    report = _report(options.lockfile, result, previous, settings)
    if unreadable is not None:
        report.warnings.append(f"the previous lockfile could not be read ({unreadable}): locked from scratch, "
                               "so no earlier pin was kept")
    report.build_pythons, report.built = chosen, built
    lockfile.write(result, options.lockfile)
    report.unchanged = previous is not None and _same(previous, result)
    return report


def _lock_platform(options: LockOptions, platform: str, previous: Lock | None, result: Lock,
                   known: dict[str, build_python.BuildPython]) -> tuple[build_python.BuildPython | None, list[str]]:
    """Lock one platform into ``result``; return the interpreter that built sdist metadata and what it built."""
    project, settings = options.project, options.settings
    if project.conda.platform and project.conda.platform != platform:
        raise InputError(f"conda-packages.txt:{project.conda.platform_line}: '# platform: {project.conda.platform}' "
                         f"does not match the platform being locked ({platform})",
                         hint=f"lock with --platform {project.conda.platform}, or remove that line")
    specs = _conda_specs(project, settings)
    locked = [] if previous is None else [_as_solved(e) for e in previous.conda if e.platform == platform
                                          and e.name not in options.upgrade_packages]
    solved = conda_engine.solve(settings["channels"], specs, platform, virtual=settings["virtual-packages"],
                                locked=locked)
    python = next((p.version for p in solved if p.name == "python"), None)
    if python is None:
        raise InputError("the conda solve holds no python package", hint="add python to conda-packages.txt")
    result.python[platform] = python
    asked = {s.name: s.text for s in specs if s.source == CONDA_FILENAME}
    result.requested[platform] = {p.name: [asked[p.name]] for p in solved if p.name in asked}
    result.conda += [_conda_entry(p, platform) for p in solved]
    provided = _conda_provided(solved)
    result.conda_provided[platform] = {k: list(v) for k, v in sorted(provided.items())}
    virtual = conda_engine.virtual_values(platform, settings["virtual-packages"])
    request = pypi_resolve.PypiRequest(
        project=project.root, user=project.user, core=project.core, core_label=project.core_label,
        conda_provided=provided, python=python, platform=platform, indexes=project.indexes,
        strategy=settings["index-strategy"], glibc=virtual.get("__glibc", "2.17").partition("=")[0],
        osx=virtual.get("__osx", "11.0").partition("=")[0], variables=project.variables,
        preferences=[] if previous is None else _preferences(previous, platform, _moving(options, previous,
                                                                                          platform, python)))
    chosen = build_python.choose(python, platform, solved, known) if project.has_pypi else None
    if chosen is not None:
        request.interpreter, request.interpreter_minor = chosen.path, build_python.minor(chosen.version)
        log.info("%s: uv builds sdist metadata with %s", platform, chosen.describe())
    pins, local_projects = pypi_resolve.resolve(request)
    result.pip += [PipEntry(p.name, p.version, platform, p.url, p.sha256) for p in pins]
    for local in local_projects:
        entry = {"name": local.name, "version": local.version,
                 "path": Path(os.path.relpath(local.path, project.root)).as_posix(),
                 "digest": digest.source_tree(Path(local.path), {options.lockfile.name})}
        if entry not in result.local_projects:
            result.local_projects.append(entry)
    built = sorted({p.name for p in pins if p.kind in ("sdist", "vcs")} | {p.name for p in local_projects})
    return chosen, built


def _moving(options: LockOptions, previous: Lock, platform: str, python: str) -> tuple[str, ...]:
    """Pins let go: --upgrade-package names, and the core packages when the Python minor version changed."""
    old = previous.python.get(platform)
    if old is not None and old.split(".")[:2] != python.split(".")[:2]:
        core = tuple(e.name for e in options.project.core.entries if e.name)
        return options.upgrade_packages + core
    return options.upgrade_packages


def _preferences(previous: Lock, platform: str, upgrade: tuple[str, ...]) -> list[pypi_resolve.PypiPin]:
    from packaging.utils import canonicalize_name

    moving = {canonicalize_name(n) for n in upgrade}
    return [pypi_resolve.PypiPin(e.name, e.version, e.url, e.sha256,
                                 "vcs" if not e.sha256 else "wheel" if e.url.endswith(".whl") else "sdist")
            for e in previous.pip if e.platform == platform and e.name not in moving]


def _conda_specs(project: Project, settings: Settings) -> list[CondaSpec]:
    specs = list(project.conda.specs)
    names = {s.name for s in specs}
    if "python" not in names:
        specs.append(parse_spec(f"python {settings['python']}.*", 0, f"setting python ({settings.source('python')})"))
    if project.has_pypi and "pip" not in names:
        specs.append(parse_spec("pip", 0, "materialize (PyPI packages are installed into this Python)"))
    return specs


def _conda_provided(solved: list[conda_engine.SolvedPackage]) -> dict[str, tuple[str, str]]:
    """PyPI distributions that conda packages install, found in their own file lists."""
    from packaging.utils import canonicalize_name

    provided: dict[str, tuple[str, str]] = {}
    for package in solved:
        if not package.provides_python_dists:
            continue
        found = conda_engine.remembered_distributions(package.sha256)  # no archive read, no download
        if found is None:
            found = conda_engine.python_distributions(fetch.fetch(package.url, package.sha256), package.sha256)
        for dist, version in found:
            provided[canonicalize_name(dist)] = (version, package.name)
    return provided


def _conda_entry(p: conda_engine.SolvedPackage, platform: str) -> CondaEntry:
    dependencies = {}
    for dep in p.depends:
        name, _, constraint = dep.partition(" ")
        dependencies[name] = constraint.strip() or "*"
    return CondaEntry(p.name, p.version, p.build, platform, p.url, p.sha256, p.md5, dependencies)


def _as_solved(entry: CondaEntry) -> conda_engine.SolvedPackage:
    return conda_engine.SolvedPackage(entry.name, entry.version, entry.build, entry.url.rsplit("/", 2)[-2],
                                      entry.url, "", entry.sha256, entry.md5, (), None)


def content_hash(options: LockOptions, platform: str) -> str:
    project, settings = options.project, options.settings
    return digest.content_hash({
        "platform": platform,
        "channels": [conda_engine.channel_url(c) for c in settings["channels"]],
        "conda": [[s.spec, s.channel] for s in project.conda.specs],
        "python-default": settings["python"] if not any(s.name == "python" for s in project.conda.specs) else None,
        "user": [[e.text, e.kind, e.constraint, list(e.hashes)] for e in project.user.entries],
        "core": [[e.text, e.kind, e.constraint] for e in project.core.entries],
        "core-set": project.core_label,
        "indexes": project.indexes.describe() + project.indexes.options_digest(),
        "index-strategy": settings["index-strategy"],
        "virtual-packages": settings["virtual-packages"],
        "local": [digest.local_source(e.path, {options.lockfile.name})
                  for e in project.user.entries + project.core.entries if e.path is not None],
    })


def _previous(path: Path) -> Lock | None:
    return _previous_or_why(path)[0]


def _previous_or_why(path: Path) -> tuple[Lock | None, str | None]:
    """The previous lock, or why an existing file is not one (it is then ignored, and the user told)."""
    if not path.is_file():
        return None, None
    try:
        return lockfile.read(path), None
    except InputError as err:
        log.warning("ignoring the previous lockfile: %s", err)
        return None, str(err)


def _report(path: Path, lock: Lock, previous: Lock | None, settings: Settings) -> LockReport:
    report = LockReport(path, lock, previous)
    default = settings["python"]
    for platform, new in lock.python.items():
        old = previous.python.get(platform) if previous else None
        changed = (old is not None and old.split(".")[:2] != new.split(".")[:2]) or (
            old is None and ".".join(new.split(".")[:2]) != default)
        if changed:
            report.python_changes[platform] = (old or f"{default} (default)", new)
            before = {e.name: e.version for e in (previous.pip if previous else []) if e.platform == platform}
            after = {e.name: e.version for e in lock.pip if e.platform == platform}
            report.core_changes[platform] = [(n, before.get(n), after.get(n)) for n in sorted(set(lock.core))
                                             if before.get(n) != after.get(n)]
    return report


def _same(a: Lock, b: Lock) -> bool:
    def key(e):  # the file lists packages by name, then platform; a lock is built platform by platform
        return e.platform, e.name

    return ((sorted(a.conda, key=key), sorted(a.pip, key=key), a.content_hash)
            == (sorted(b.conda, key=key), sorted(b.pip, key=key), b.content_hash))

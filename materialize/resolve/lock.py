"""Inputs -> Lockfile: the conda solve first, then the PyPI resolve against it, per platform."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..engines import conda as conda_engine, conda_dists
from ..lockfile import digest
from .. import lockfile, platforms as platform_names
from . import build_python, core, pypi as pypi_resolve, python as python_choice
from .report import LockReport, Note, build as build_report
from ..inputs import credentials
from ..inputs.conda_specs import FILENAME as CONDA_FILENAME, CondaSpec, parse_spec
from ..errors import InputError
from ..lockfile import CondaEntry, Lock, PipEntry
from ..inputs.project import Project
from ..secrets import origin, strip_literal_credentials
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


def target_platforms(flags: list[str], settings: Settings, lockfile_path: Path | None = None) -> list[str]:
    """--platform flags, else the `platforms` setting, else the previous lockfile's, else this host's."""
    chosen = flags or settings["platforms"]
    if not chosen:
        previous = read_previous(lockfile_path) if lockfile_path is not None else None
        chosen = previous.platforms if previous else [platform_names.host()]
    for name in chosen:
        if name not in platform_names.KNOWN:
            raise InputError(f"unknown platform {name!r} (known: {', '.join(platform_names.KNOWN)})")
    return sorted(dict.fromkeys(chosen))


@dataclass
class _Run:
    """One lock run: what it was asked, the lockfile it replaces (``keep``: whose pins it keeps), what it built,
    and per platform the interpreter that built sdist metadata and the packages it built."""

    options: LockOptions
    previous: Lock | None
    keep: Lock | None
    result: Lock
    notes: list[Note] = field(default_factory=list)
    build_pythons: dict[str, build_python.BuildPython] = field(default_factory=dict)
    built: dict[str, list[str]] = field(default_factory=dict)
    prerendered: lockfile.Prerendered = field(default_factory=lockfile.Prerendered)  # written while uv resolves


@dataclass(frozen=True)
class _Solved:
    """One platform's conda solve, as the PyPI resolve needs it."""

    platform: str
    python: str
    packages: list[conda_engine.SolvedPackage]
    provided: dict[str, tuple[str, str]]  # distribution -> (version, conda package)


def lock(options: LockOptions) -> LockReport:
    project, settings = options.project, options.settings
    previous, unreadable = previous_or_why(options.lockfile)
    channels = [conda_engine.channel_url(c) for c in settings["channels"]]
    result = Lock(platforms=options.platforms, channels=channels, content_hash={},
                  sources=[p.relative_to(project.root).as_posix() for p in project.input_files
                           if p.is_relative_to(project.root)],
                  core_set=project.core_label, indexes=project.indexes.describe(), settings=settings.recorded())
    run = _Run(options, previous, None if options.upgrade else previous, result)
    core_names: set[str] = set()
    host = platform_names.host()
    for platform in sorted(options.platforms, key=lambda p: p != host):  # the host's Python may serve the others
        choice = _lock_platform(run, platform)
        if choice.lock is not None:
            result.core_locks[platform] = {"file": choice.lock.label, "sha256": choice.lock.sha256}
            core_names |= set(choice.lock.pins)
        result.content_hash[platform] = content_hash(options, platform, previous, result.python[platform])
    direct = {e.name for e in project.core.entries if e.name}
    result.core = sorted((core_names & {e.name for e in result.pip}) | direct)
    result.credentials = credentials.lock_notes(project.indexes.credentials)
    run.notes += [Note("warning", text) for text in credentials.literal_warnings(project.indexes.credentials,
                                                                                 _git_origins(project))]
    report = build_report(options.lockfile, result, previous, settings["python"])
    report.notes, report.build_pythons, report.built = run.notes, run.build_pythons, run.built
    if unreadable is not None:
        report.notes.insert(0, Note("warning", f"the previous lockfile could not be read ({unreadable}): locked "
                                               "from scratch, so no earlier pin was kept"))
    lockfile.write(result, options.lockfile, run.prerendered)
    report.unchanged = previous is not None and _same(previous, result)
    return report


def _lock_platform(run: _Run, platform: str) -> core.CoreChoice:
    options, result = run.options, run.result
    project, settings = options.project, options.settings
    if project.conda.platform and project.conda.platform != platform:
        raise InputError(f"conda-packages.txt:{project.conda.platform_line}: '# platform: {project.conda.platform}' "
                         f"does not match the platform being locked ({platform})",
                         hint=f"lock with --platform {project.conda.platform}, or remove that line")
    default = python_choice.choose(settings, run.previous, platform, options.lockfile.name)
    specs, optional = _conda_specs(project, default)
    locked = [] if run.keep is None else [_as_solved(e) for e in run.keep.conda if e.platform == platform
                                          and e.name not in options.upgrade_packages]
    solved = conda_engine.solve(settings["channels"], specs, platform, virtual=settings["virtual-packages"],
                                locked=locked, optional=optional)
    python = next((p.version for p in solved if p.name == "python"), None)
    if python is None:
        raise InputError("the conda solve holds no python package", hint="add python to conda-packages.txt")
    result.python[platform] = python
    asked = {s.name: s.text for s in specs if s.source == CONDA_FILENAME}
    result.requested[platform] = {p.name: [asked[p.name]] for p in solved if p.name in asked}
    result.conda += [_conda_entry(p, platform) for p in solved]
    provided = _conda_provided(solved)
    result.conda_provided[platform] = {k: list(v) for k, v in sorted(provided.items())}
    choice = core.choose(project.core_name, core.requirement_lines(project.core.entries), settings, python, platform)
    if not _names_python(project):
        run.notes += [Note("note", text) for text in [python_choice.kept_note(default, python, platform)] if text]
    run.notes += _notes(project, choice, solved, provided, platform)
    _resolve_pypi(run, _Solved(platform, python, solved, provided), choice.lock)
    return choice


def _resolve_pypi(run: _Run, solved: _Solved, core_lock: core.CoreLock | None) -> None:
    options, result, keep = run.options, run.result, run.keep
    project, settings = options.project, options.settings
    platform, python, provided = solved.platform, solved.python, solved.provided
    virtual = conda_engine.virtual_values(platform, settings["virtual-packages"])
    request = pypi_resolve.PypiRequest(
        project=project.root, user=project.user, core=project.core, core_label=project.core_label,
        conda_provided=provided, python=python, platform=platform, indexes=project.indexes,
        strategy=settings["index-strategy"], glibc=virtual.get("__glibc", "2.17").partition("=")[0],
        osx=virtual.get("__osx", "11.0").partition("=")[0], variables=project.variables, core_lock=core_lock,
        preferences=[] if keep is None else _preferences(keep, platform, _moving(options, keep, platform, python)))
    known = {build_python.minor(c.version): c for c in run.build_pythons.values() if c.fits}
    chosen = build_python.choose(python, platform, solved.packages, known) if project.has_pypi else None
    if chosen is not None:
        request.interpreter, request.interpreter_minor = chosen.path, build_python.minor(chosen.version)
        run.build_pythons[platform] = chosen
        log.info("%s: uv builds sdist metadata with %s", platform, chosen.describe())
    pins, local_projects = pypi_resolve.resolve(request, meanwhile=lambda: run.prerendered.conda(result.conda))
    result.pip += [PipEntry(p.name, p.version, platform, p.url, p.sha256) for p in pins]
    for local in local_projects:
        entry = {"name": local.name, "version": local.version,
                 "path": Path(os.path.relpath(local.path, project.root)).as_posix(),
                 "digest": digest.source_tree(Path(local.path), {options.lockfile.name})}
        if entry not in result.local_projects:
            result.local_projects.append(entry)
    run.built[platform] = sorted({p.name for p in pins if p.kind in ("sdist", "vcs")} | {p.name for p in local_projects})


def _notes(project: Project, choice: core.CoreChoice, solved, provided, platform: str) -> list[Note]:
    """What the user must hear about this platform's lock: a core lock that did not fit, pip missing,
    conda packages that take the place of core-locked versions."""
    notes = []
    if choice.warn:
        notes.append(Note("warning", f"{choice.why} ({core.REFRESH_HINT})"))
    if project.has_pypi and not any(p.name == "pip" for p in solved) and not _names_pip(project):
        notes.append(Note("warning", f"the channels have no pip package for {platform}: locked without pip. "
                                     "materialize installs the PyPI packages with uv and needs none, but "
                                     "micromamba and conda-lock install a lockfile's PyPI part with the environment's "
                                     "pip, so they cannot install this one, and the environment has no pip"))
    if choice.lock is not None:
        for name, (version, package) in sorted(provided.items()):
            pin = choice.lock.pins.get(name)
            if pin is not None and pin.version != version:
                notes.append(Note("note", f"{name} {version} comes from the conda package {package!r}; the core "
                                          f"lock {choice.lock.label} has {pin.version}, which does not apply"))
    return notes


def _names_python(project: Project) -> bool:
    return any(s.name == "python" for s in project.conda.specs)


def _names_pip(project: Project) -> bool:
    return any(s.name == "pip" for s in project.conda.specs)


def _git_origins(project: Project) -> set[str]:
    return {key for key in (origin(e.text.partition(" @ ")[2] or e.text) for e in project.user.entries
                            + project.core.entries if e.kind == "vcs") if key}


def _moving(options: LockOptions, previous: Lock, platform: str, python: str) -> tuple[str, ...]:
    """Pins let go: --upgrade-package names, and the core packages when the Python minor version changed."""
    old = previous.python.get(platform)
    if old is not None and old.split(".")[:2] != python.split(".")[:2]:
        core_names = tuple(e.name for e in options.project.core.entries if e.name) + tuple(previous.core)
        return options.upgrade_packages + core_names
    return options.upgrade_packages


def _preferences(previous: Lock, platform: str, upgrade: tuple[str, ...]) -> list[pypi_resolve.PypiPin]:
    from packaging.utils import canonicalize_name

    moving = {canonicalize_name(n) for n in upgrade}
    return [pypi_resolve.PypiPin(e.name, e.version, e.url, e.sha256,
                                 "vcs" if not e.sha256 else "wheel" if e.url.endswith(".whl") else "sdist")
            for e in previous.pip if e.platform == platform and e.name not in moving]


def _conda_specs(project: Project, default: python_choice.PythonChoice) -> tuple[list[CondaSpec], list[CondaSpec]]:
    """The specs to solve, and the optional ones: pip joins a project with PyPI packages when the channels
    have it (micromamba installs a lockfile's PyPI part with it; materialize itself needs none)."""
    specs = list(project.conda.specs)
    if not _names_python(project):
        specs.append(parse_spec(f"python {default.minor}.*", 0, default.source))
    optional = []
    if project.has_pypi and not _names_pip(project):
        optional.append(parse_spec("pip", 0, "materialize (for micromamba: PyPI packages are installed into this Python)"))
    return specs, optional


def _conda_provided(solved: list[conda_engine.SolvedPackage]) -> dict[str, tuple[str, str]]:
    """PyPI distributions that conda packages install, found in their own file lists (remembered per
    sha256; else read from the archives' info/ part, never a whole download where ranges are served)."""
    from packaging.utils import canonicalize_name

    shipping = [p for p in solved if p.provides_python_dists]
    provided: dict[str, tuple[str, str]] = {}
    for package, found in zip(shipping, conda_dists.distributions_at([(p.url, p.sha256) for p in shipping])):
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


def content_hash(options: LockOptions, platform: str, previous: Lock | None, python: str | None) -> str:
    """The inputs' digest for ``platform``; ``previous`` is the lockfile whose Python is kept, ``python`` the
    Python it holds (which picks the core lock)."""
    project, settings = options.project, options.settings
    default = python_choice.choose(settings, previous, platform, options.lockfile.name)
    choice = core.choose(project.core_name, core.requirement_lines(project.core.entries), settings, python,
                         platform) if python else None
    # The core lock joins the digest only where one applies: a lockfile without one stays fresh.
    core_lock = {"core-lock": choice.lock.sha256} if choice is not None and choice.lock is not None else {}
    return digest.content_hash({
        **core_lock,
        "platform": platform,
        "channels": [conda_engine.channel_url(c) for c in settings["channels"]],
        "conda": [[s.spec, s.channel, *([s.subdir] if s.subdir else [])] for s in project.conda.specs],
        "python-default": default.minor if not _names_python(project) else None,
        "user": [[strip_literal_credentials(e.text), e.kind, e.constraint, list(e.hashes)]
                 for e in project.user.entries],
        "core": [[strip_literal_credentials(e.text), e.kind, e.constraint] for e in project.core.entries],
        "core-set": project.core_label,
        "indexes": project.indexes.describe() + project.indexes.options_digest(),
        "index-strategy": settings["index-strategy"],
        "virtual-packages": settings["virtual-packages"],
        "local": [digest.local_source(e.path, {options.lockfile.name})
                  for e in project.user.entries + project.core.entries if e.path is not None],
    })


def read_previous(path: Path) -> Lock | None:
    return previous_or_why(path)[0]


def previous_or_why(path: Path) -> tuple[Lock | None, str | None]:
    """The previous lock, or why an existing file is not one (it is then ignored, and the user told)."""
    if not path.is_file():
        return None, None
    try:
        return lockfile.read(path), None
    except InputError as err:
        log.warning("ignoring the previous lockfile: %s", err)
        return None, str(err)


def _same(a: Lock, b: Lock) -> bool:
    def key(e):  # the file lists packages by name, then platform; a lock is built platform by platform
        return e.platform, e.name

    return ((sorted(a.conda, key=key), sorted(a.pip, key=key), a.content_hash)
            == (sorted(b.conda, key=key), sorted(b.pip, key=key), b.content_hash))

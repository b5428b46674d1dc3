"""Resolve the PyPI part with uv, for exactly the locked Python and platform, against the conda pins.

Conda-provided distributions are constraints (``-c``) and never emitted (``--no-emit-package``):
the conda package stays the only owner of its files.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from packaging.specifiers import InvalidSpecifier
from packaging.utils import canonicalize_name
from packaging.version import Version

from .. import scratch
from ..engines import child_auth, uv as uv_tool, wheel_tags
from . import artifacts
from ..errors import FetchError, InputError, ResolutionError
from ..inputs.indexes import Indexes
from ..inputs.requirements import Entry, RequirementsSet
from ..inputs.variables import expand
from ..secrets import origin, strip_credentials, strip_literal_credentials
from . import core

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PypiPin:
    name: str
    version: str
    url: str  # never with credentials; a git URL keeps its ${VAR} tokens
    sha256: str  # empty for git
    kind: str  # "wheel" | "sdist" | "vcs"


@dataclass(frozen=True)
class LocalProject:
    name: str
    version: str
    path: str  # absolute


@dataclass
class PypiRequest:
    project: Path
    user: RequirementsSet
    core: RequirementsSet
    core_label: str  # e.g. "core set 'default'"
    conda_provided: dict[str, tuple[str, str]]  # distribution -> (version, conda package)
    python: str  # full version, e.g. 3.11.7
    platform: str
    indexes: Indexes
    strategy: str = "first-index"
    glibc: str = "2.28"
    osx: str = "11.0"
    variables: dict[str, str] = field(default_factory=dict)
    preferences: list[PypiPin] = field(default_factory=list)
    core_lock: core.CoreLock | None = None  # its versions are exact constraints
    interpreter: str = ""  # what uv builds sdist metadata with (build_python.py); "" = ours
    interpreter_minor: str = "%d.%d" % sys.version_info[:2]  # its Python minor version


def describe(entry: Entry, request: PypiRequest) -> str:
    side = request.core_label if entry in request.core.entries else "user"
    return f"{entry.text!r} ({side}, {entry.where})"


def check_conda_conflicts(request: PypiRequest) -> None:
    """A direct requirement that the conda-provided version cannot satisfy fails before uv runs."""
    for entry in request.user.entries + request.core.entries:
        if entry.name not in request.conda_provided or entry.kind != "pep508":
            continue
        version, conda_package = request.conda_provided[entry.name]
        requirement = entry.requirement
        try:
            ok = requirement is None or requirement.specifier.contains(Version(version), prereleases=True)
        except (InvalidSpecifier, ValueError):
            ok = True
        if not ok:
            raise ResolutionError(
                f"pip requirement {describe(entry, request)} conflicts with {entry.name} {version}, "
                f"installed by the conda package {conda_package!r} (conda-packages.txt)",
                hint=f"pin a conda {conda_package} that provides a matching version, or relax the requirement")


def check_core_lock_conflicts(request: PypiRequest) -> None:
    """A user requirement that the core lock's exact version cannot satisfy fails before uv runs."""
    if request.core_lock is None:
        return
    for entry in request.user.entries:
        error = core.conflict(request.core_lock, entry, describe(entry, request))
        if error is not None:
            raise error


def core_lock_constraints(request: PypiRequest) -> list[str]:
    """``name==version`` for every core-locked package conda does not provide."""
    if request.core_lock is None:
        return []
    return [f"{p.name}=={p.version}" for p in sorted(request.core_lock.pins.values(), key=lambda p: p.name)
            if p.name not in request.conda_provided]


def resolve(request: PypiRequest, meanwhile: Callable[[], object] | None = None
            ) -> tuple[list[PypiPin], list[LocalProject]]:
    """uv's resolution of the request; ``meanwhile()`` (work that does not need it) runs while uv does."""
    if not request.user.entries and not request.core.entries:
        return [], []
    check_conda_conflicts(request)
    check_core_lock_conflicts(request)
    ranks: dict = {}

    def prepare() -> None:  # while uv compiles: what reading its output needs
        ranks.update(wheel_tags.ranked_tags(request.platform, request.python, request.glibc, request.osx))
        _toml()
        if meanwhile is not None:
            meanwhile()

    with scratch.private_dir("uv") as work:
        vcs_urls = _write_inputs(request, work)
        _write_preferences(request.preferences, work / "pylock.toml")
        _compile(request, work, prepare)
        pylock = _toml().loads((work / "pylock.toml").read_text())
    pins = _pins(pylock, request, vcs_urls, ranks)
    if request.core_lock is not None:
        core.check_hashes(request.core_lock, pins, core.target_of(request.platform, request.glibc, request.osx))
    return pins, _local_projects(pylock, request)


def _toml():
    """tomllib, imported while uv runs (its import is ~4 ms of a lock)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    return tomllib


def _write_inputs(request: PypiRequest, work: Path) -> dict[str, str]:
    """user.in, core.in, constraints.txt; returns git URLs by name, as written."""
    vcs_urls: dict[str, str] = {}
    files = {"user.in": [], "core.in": [], "constraints.txt": []}
    for target, entries in (("user.in", request.user.entries), ("core.in", request.core.entries)):
        for entry in entries:
            line = _uv_line(entry, request, vcs_urls)
            files["constraints.txt" if entry.constraint else target].append(line)
    for name, (version, _) in sorted(request.conda_provided.items()):
        files["constraints.txt"].append(f"{name}=={version}")
    files["constraints.txt"] += core_lock_constraints(request)
    for name, lines in files.items():
        (work / name).write_text("\n".join(lines) + "\n")
    return vcs_urls


def _write_preferences(pins: list[PypiPin], path: Path) -> None:
    """uv reads an existing output file as the previous pins: unchanged pins stay put."""
    if not pins:
        return
    lines = ['lock-version = "1.0"', 'created-by = "materialize"', ""]
    for pin in pins:
        if pin.kind == "vcs":
            continue
        artifact = "wheels = [{" if pin.kind == "wheel" else "sdist = {"
        closing = "}]" if pin.kind == "wheel" else "}"
        lines += ["[[packages]]", f'name = "{pin.name}"', f'version = "{pin.version}"',
                  f'{artifact} url = "{pin.url}", hashes = {{ sha256 = "{pin.sha256}" }} {closing}', ""]
    path.write_text("\n".join(lines))


def _uv_line(entry: Entry, request: PypiRequest, vcs_urls: dict[str, str]) -> str:
    """The line uv reads: never a login (uv would put a git URL's login into git's argv and its
    output); the login reaches uv and git through ``child_auth`` instead. Hashes stay out of it too
    (uv ignores them when compiling: `artifacts` checks them)."""
    text = expand(entry.text, request.variables, entry.where)
    if entry.kind == "vcs":
        vcs_urls[entry.name or ""] = strip_literal_credentials(entry.location)  # ${VAR}s stay, for the install
        return _without_login(text, request)
    if entry.kind == "path":
        path = entry.path
        if path is None or not path.exists():
            raise InputError(f"{entry.where}: {entry.text!r}: no such file or directory {path}")
        extras = f"[{','.join(entry.extras)}]" if entry.extras else ""
        return f"{path}{extras}" + (f" ; {entry.marker}" if entry.marker else "")
    if entry.kind == "url":
        text = _without_login(text, request)
    return text


def _without_login(text: str, request: PypiRequest) -> str:
    """``name @ https://u:p@host/x.whl ; marker`` -> the same line without ``u:p@`` (kept by origin)."""
    head, sep, rest = text.partition(" @ ") if " @ " in text else ("", "", text)
    url = rest.split()[0] if rest.split() else rest
    return head + sep + rest.replace(url, request.indexes.credentials.add_url(url), 1)


def _direct_origins(request: PypiRequest) -> set[str]:
    """Origins of direct-URL requirements (their logins need an entry in uv's config)."""
    urls = [(e.text.partition(" @ ")[2] if " @ " in e.text else e.text).split()
            for e in request.user.entries + request.core.entries if e.kind == "url"]
    return {key for key in (origin(words[0]) for words in urls if words) if key}


def _compile(request: PypiRequest, work: Path, meanwhile: Callable[[], object]) -> None:
    """pip's --prefer-binary has no uv twin: a wheel-only resolve first, the ordinary one if that fails."""
    if request.indexes.prefer_binary:
        try:
            _compile_once(request, work, meanwhile, ["--only-binary", ":all:"])
            return
        except ResolutionError as err:
            log.info("prefer-binary: no wheel-only resolution (%s); resolving with sdists allowed",
                     err.message.splitlines()[1:2])
    _compile_once(request, work, meanwhile, [])


def _compile_once(request: PypiRequest, work: Path, meanwhile: Callable[[], object], extra: list[str]) -> None:
    args = ["pip", "compile", *uv_tool.COMMON, "user.in", "core.in", "-c", "constraints.txt",
            "--format", "pylock.toml", "-o", "pylock.toml", "--generate-hashes", "--no-header", "--quiet",
            "--python-version", request.python, "--python-platform",
            wheel_tags.uv_platform(request.platform, request.glibc),
            "--python", request.interpreter or sys.executable,
            *request.indexes.uv_args(request.strategy), *extra]
    for name in sorted(request.conda_provided):
        args += ["--no-emit-package", name]
    indexes = request.indexes
    with child_auth.child_auth(indexes.credentials, indexes.uv_config(_direct_origins(request))) as auth:
        env = {**auth.env, **wheel_tags.uv_environment(request.platform, request.osx),
               "UV_CACHE_DIR": str(uv_tool.resolve_cache(request.interpreter_minor))}
        done = uv_tool.run([*args, *auth.uv_args], env=env, cwd=work, meanwhile=meanwhile)
    if done.returncode:
        raise _failure(done, request)


def _failure(done, request: PypiRequest) -> Exception:
    text = done.tail(25)
    lowered = text.lower()
    if any(k in lowered for k in ("401", "403", "unauthorized", "forbidden", "missing credentials",
                                  "authentication failed", "could not read username")):
        known = [*request.indexes.hosts(), *(key.partition("://")[2] for key in request.indexes.credentials.logins)]
        hosts = ", ".join(dict.fromkeys(h for h in known if h in text)) or ", ".join(known) or "the index"
        return FetchError(f"authentication failed at {hosts}:\n{text}",
                          hint="check the logins in pip.conf, requirements.txt, the environment or .env "
                               "(as ${VARIABLES} in the URLs), or in ~/.netrc")
    if any(k in lowered for k in ("failed to fetch", "connection refused", "error sending request",
                                  "could not connect", "dns error", "timed out", "failed to download")):
        return FetchError(f"cannot reach the package index ({', '.join(request.indexes.describe())}):\n{text}")
    involved = [describe(e, request) for e in request.user.entries + request.core.entries
                if e.name and e.name in lowered]
    conda = [f"{name}=={v} (from conda package {pkg!r})" for name, (v, pkg) in request.conda_provided.items()
             if name in lowered]
    lines = [f"the PyPI requirements cannot be resolved for Python {request.python} on {request.platform}:", text]
    if involved:
        lines.append("requirements involved: " + "; ".join(involved))
    if conda:
        lines.append("fixed by conda: " + "; ".join(conda))
    pinned = [c for c in core_lock_constraints(request) if c.split("==")[0] in lowered]
    if pinned:
        lines.append(f"pinned by the core lock {request.core_lock.label}: " + "; ".join(pinned))
    return ResolutionError("\n".join(lines))


def _pins(pylock: dict, request: PypiRequest, vcs_urls: dict[str, str], ranks: dict) -> list[PypiPin]:
    hashed = {e.name: e for e in request.user.entries + request.core.entries if e.name and e.hashes}
    pins = []
    for package in pylock.get("packages", []):
        name, version = canonicalize_name(package["name"]), str(package.get("version", ""))
        if "directory" in package:
            continue  # the local project: recorded separately, built at install
        if "vcs" in package:
            vcs = package["vcs"]
            base = vcs_base(vcs_urls.get(name) or strip_credentials("git+" + vcs["url"]))
            pins.append(PypiPin(name, version, f"{base}@{vcs['commit-id']}#egg={name}", "", "vcs"))
            continue
        found = artifacts.candidates(package, ranks, request.project)
        chosen = artifacts.choose(name, version, found, hashed.get(name), request.indexes.credentials)
        if chosen is None:
            raise ResolutionError(f"{name} {version} has no wheel for {request.platform} / Python {request.python} "
                                  "and no sdist")
        url, sha256, kind = chosen
        pins.append(PypiPin(name, version, strip_credentials(url), sha256, kind))
    return sorted(pins, key=lambda p: p.name)


def vcs_base(url: str) -> str:
    """``git+https://${T}@host/org/repo.git@v1.0#egg=x`` -> ``git+https://${T}@host/org/repo.git``."""
    url = url.split("#", 1)[0]
    scheme, sep, rest = url.partition("://")
    netloc, slash, path = rest.partition("/")
    return f"{scheme}{sep}{netloc}{slash}{path.rsplit('@', 1)[0] if '@' in path else path}"


def _local_projects(pylock: dict, request: PypiRequest) -> list[LocalProject]:
    projects = []
    for package in pylock.get("packages", []):
        if "directory" not in package:
            continue
        path = (Path(request.project) / package["directory"]["path"]).resolve()
        projects.append(LocalProject(canonicalize_name(package["name"]), str(package.get("version", "")), str(path)))
    return sorted(projects, key=lambda p: p.name)

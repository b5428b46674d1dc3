"""Install the locked PyPI artifacts into the prefix's own Python with uv: no resolution, hashes required.

Wheels (and hashed sdists) are installed from our verified cache (``fetch``), never from the
network, so online and ``--offline`` installs are the same operation. Installing from a local
path makes uv write ``direct_url.json`` pointing at that path (our cache, or a local project's
source folder): outside the prefix and different per machine. Those files are removed with their
RECORD line, which is also what PEP 610 asks for artifacts that came from an index; git packages
keep theirs (the URL and commit, nothing local).

Conda-owned distributions are never passed to uv, never uninstalled: only distributions that
uv installed and the lock no longer holds are removed. ``.materialize/pypi.json`` remembers the
artifact behind each uv-installed distribution, so that only what changed is reinstalled.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .. import cache, scratch
from . import conda_meta, state as prefix_state
from ..engines import child_auth, fetch, uv as uv_tool
from ..secrets import Credentials, strip_literal_credentials
from ..errors import FetchError, IntegrityError, MaterializeError
from ..lockfile import PipEntry
from ..inputs.requirements import expand


_UV_TEMP = re.compile(r"^\.tmp[A-Za-z0-9]{6}$")


@dataclass
class PipPlan:
    prefix: Path
    entries: list[PipEntry]
    local_projects: list[dict[str, str]]  # name, version, path, digest
    project: Path  # where local project paths and .env live
    variables: Mapping[str, str]
    credentials: Credentials
    index_args: list[str] = field(default_factory=list)  # for building local projects only: flags...
    index_config: str | None = None  # ... and the indexes (uv.toml text, no secrets)
    offline: bool = False
    artifacts: Mapping[str, Path] = field(default_factory=dict)  # name -> verified cached artifact
    lockfile_name: str = "materialize-lock.yml"  # left out of a local project's source digest


def site_packages(prefix: Path) -> Path:
    found = sorted(prefix.glob("lib/python3*/site-packages"))
    if not found:
        raise MaterializeError(f"{prefix}: no lib/python3.*/site-packages; the conda part holds no Python")
    return found[-1]


def uv_dist_infos(prefix: Path) -> dict[str, Path]:
    """Distributions whose INSTALLER is uv and that no conda package owns: canonical name -> dist-info."""
    from packaging.utils import canonicalize_name

    conda_owned = conda_meta.python_distributions(prefix)
    found = {}
    for dist_info in sorted(site_packages(prefix).glob("*.dist-info")):
        installer = dist_info / "INSTALLER"
        if installer.is_file() and installer.read_text().strip() == "uv":
            name = canonicalize_name(dist_info.name[: -len(".dist-info")].rpartition("-")[0])
            if name not in conda_owned:
                found[name] = dist_info
    return found


def installed_by_uv(prefix: Path) -> dict[str, str]:
    """Distributions uv installed: canonical name -> version."""
    return {name: path.name[: -len(".dist-info")].rpartition("-")[2] for name, path in uv_dist_infos(prefix).items()}


def needed(prefix: Path, entries: list[PipEntry]) -> list[PipEntry]:
    """The hashed entries the prefix does not hold yet (from the same artifact): what to fetch."""
    if not list(prefix.glob("lib/python3*/site-packages")):
        return list(entries)
    current = installed_by_uv(prefix)
    record = prefix_state.read_pypi(prefix)
    return [e for e in entries
            if current.get(canonical_name(e.name)) != e.version or record.get(canonical_name(e.name)) != e.sha256]


def remove_leftovers(prefix: Path) -> list[str]:
    """Delete the temp files a killed uv (``.tmpXXXXXX``, written then renamed into place) or a killed
    RECORD rewrite of ours left anywhere in the prefix; returns their relative paths."""
    removed = []
    for folder, dirs, files in os.walk(prefix):
        if folder == str(prefix):
            dirs[:] = [d for d in dirs if d not in (prefix_state.STATE_DIR, "conda-meta")]
        for name in files:
            if _UV_TEMP.match(name) or (name == "RECORD.tmp" and folder.endswith(".dist-info")):
                os.unlink(os.path.join(folder, name))
                removed.append(os.path.relpath(os.path.join(folder, name), prefix))
    return removed


def remove_stale(prefix: Path, wanted: set[str]) -> list[str]:
    """Uninstall every uv-installed distribution the lock no longer holds (before conda links, so that
    a distribution moving to the conda side is gone first). Done from RECORD, without running the
    prefix's Python, so that it works on a prefix that a killed install left half-built."""
    if not list(prefix.glob("lib/python3*/site-packages")):
        return []
    stale = {name: path for name, path in uv_dist_infos(prefix).items() if name not in wanted}
    for dist_info in stale.values():
        uninstall(dist_info)
    if stale:
        record = prefix_state.read_pypi(prefix)
        prefix_state.write_pypi(prefix, {k: v for k, v in record.items() if k not in stale})
    return sorted(stale)


def uninstall(dist_info: Path) -> None:
    """Remove a distribution's files (RECORD), their bytecode, then the dist-info; prune empty folders.

    Crash-safe order: INSTALLER and RECORD go last, so that a run killed half-way still finds a
    uv-installed distribution to finish removing."""
    site = dist_info.parent
    prefix = site.parents[2]
    paths = []
    record = dist_info / "RECORD"
    if record.is_file():
        for row in csv.reader(record.read_text().splitlines()):
            path = Path(os.path.normpath(site / row[0])) if row and row[0] else None
            if path is not None and prefix in path.parents:  # never outside the prefix
                paths.append(path)
    last = [dist_info / "RECORD", dist_info / "INSTALLER"]
    folders = set()
    for path in [p for p in [*paths, *sorted(dist_info.glob("*"))] if p not in last]:
        if path.suffix == ".py":
            for cached in path.parent.glob(f"__pycache__/{path.stem}.*.pyc"):
                cached.unlink(missing_ok=True)
            folders.add(path.parent / "__pycache__")
        if path.is_symlink() or path.is_file():
            path.unlink()
        folders.add(path.parent)
    # Empty folders go while RECORD still names the distribution: a run killed before this point
    # finds it again and finishes the job (a folder left after RECORD is gone would be orphaned).
    for folder in sorted(folders - {dist_info}, key=lambda p: len(p.parts), reverse=True):
        _prune_empty(folder, prefix)
    for path in last:
        path.unlink(missing_ok=True)
    shutil.rmtree(dist_info, ignore_errors=True)


def _prune_empty(folder: Path, stop: Path) -> None:
    while folder != stop and stop in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def install(plan: PipPlan) -> list[str]:
    """Install what the lock holds and the prefix lacks (or holds from another artifact); returns names."""
    python = plan.prefix / "bin" / "python"
    wanted = _wanted(plan)
    current = installed_by_uv(plan.prefix)
    record = {k: v for k, v in prefix_state.read_pypi(plan.prefix).items() if k in current}
    changed = sorted(n for n, (version, key) in wanted.items() if current.get(n) != version or record.get(n) != key)
    prefix_state.write_pypi(plan.prefix, {k: v for k, v in record.items() if k in wanted and k not in changed})
    installed = uv_dist_infos(plan.prefix)
    for name in changed:  # replaced: removed by us first (crash-safe order), never by uv
        if name in installed:
            uninstall(installed[name])
    _install_changed(plan, python, set(changed))
    scrub_direct_urls(plan.prefix)
    prefix_state.write_pypi(plan.prefix, {n: key for n, (_, key) in wanted.items()})
    return changed


def wanted_names(entries: list[PipEntry], local_projects: list[dict[str, str]]) -> set[str]:
    return {canonical_name(e.name) for e in entries} | {canonical_name(p["name"]) for p in local_projects}


def canonical_name(name: str) -> str:
    from packaging.utils import canonicalize_name

    return canonicalize_name(name)


def _wanted(plan: PipPlan) -> dict[str, tuple[str, str]]:
    """name -> (version, the artifact's identity: wheel sha256, git URL, or the local source digest)."""
    from ..lockfile.digest import source_tree

    wanted = {canonical_name(e.name): (e.version, e.sha256 or strip_literal_credentials(e.url))
              for e in plan.entries}
    for local in plan.local_projects:
        source = (plan.project / local["path"]).resolve()
        digest = source_tree(source, {plan.lockfile_name}) if source.is_dir() else local.get("digest", "")
        wanted[canonical_name(local["name"])] = (local["version"], "source:" + digest)
    return wanted


def _install_changed(plan: PipPlan, python: Path, changed: set[str]) -> None:
    base = ["pip", "install", *uv_tool.COMMON, "--python", str(python), "--no-deps", "--link-mode", "copy"]
    offline = ["--offline"] if plan.offline else []
    with scratch.private_dir("pip") as folder:
        hashed = [e for e in plan.entries if canonical_name(e.name) in changed and e.sha256]
        if hashed:  # from our verified cache (file:// URLs): no login needed
            reqs = folder / "locked.txt"
            reqs.write_text("".join(f"{e.name} @ {_source(plan, e)} --hash=sha256:{e.sha256}\n" for e in hashed))
            _uv([*base, "--require-hashes", "--reinstall", "-r", str(reqs), *offline], plan, "installing wheels")
        vcs = [e for e in plan.entries if canonical_name(e.name) in changed and not e.sha256]
        if vcs:
            urls = [vcs_url(e, plan) for e in vcs]
            (folder / "vcs.txt").write_text("".join(f"{e.name} @ {url}\n" for e, url in zip(vcs, urls)))
            _uv([*base, *[a for e in vcs for a in ("--reinstall-package", e.name)], *plan.index_args,
                 "-r", str(folder / "vcs.txt"), *offline], plan, "installing git packages", plan.credentials,
                plan.index_config)  # the git hosts' logins, and the indexes' for the build backend
    for local in plan.local_projects:
        if canonical_name(local["name"]) in changed:
            path = (plan.project / local["path"]).resolve()
            _uv([*base, "--reinstall-package", local["name"], *plan.index_args, str(path), *offline],
                plan, f"building the local project {local['name']} ({local['path']})", plan.credentials,
                plan.index_config)


def vcs_url(entry: PipEntry, plan: PipPlan) -> str:
    """The lockfile's git URL with its ${VAR}s expanded, without any login (kept by origin, for git's
    credential helper: a login in the URL would reach git's argv)."""
    return plan.credentials.add_url(expand(entry.url, dict(plan.variables), "lockfile"), "the lockfile")


def _source(plan: PipPlan, entry: PipEntry) -> str:
    """The verified cached artifact's file:// URL (never the index URL: uv would not check it against
    our cache, and would record it in direct_url.json)."""
    cached = plan.artifacts.get(entry.name)
    if cached is None:
        artifact = fetch.Artifact(entry.url, entry.sha256, cache.WHEELS)
        cached = fetch.verified(artifact, offline=plan.offline, credentials=plan.credentials)
    return cached.as_uri()


def scrub_direct_urls(prefix: Path) -> list[str]:
    """Remove what uv records about a local source, with its RECORD lines: a direct_url.json pointing
    at a local path, and uv_cache.json (that path's timestamp). Returns the names touched."""
    scrubbed = []
    for name, dist_info in uv_dist_infos(prefix).items():
        drop = [dist_info / "uv_cache.json"] if (dist_info / "uv_cache.json").exists() else []
        try:
            if json.loads((dist_info / "direct_url.json").read_text()).get("url", "").startswith("file:"):
                drop.append(dist_info / "direct_url.json")
        except (OSError, ValueError, AttributeError):
            pass
        if drop:
            _drop_recorded(dist_info, drop)
            scrubbed.append(name)
    return scrubbed


def _drop_recorded(dist_info: Path, files: list[Path]) -> None:
    """Delete ``files`` from a dist-info and from its RECORD (rewritten atomically, first)."""
    record = dist_info / "RECORD"
    if record.is_file():
        lines = tuple(f"{dist_info.name}/{f.name}," for f in files)
        kept = [r for r in record.read_text().splitlines(keepends=True) if not r.startswith(lines)]
        temp = record.with_name("RECORD.tmp")
        temp.write_text("".join(kept))
        os.chmod(temp, os.stat(record).st_mode & 0o7777)
        os.replace(temp, record)
    for path in files:
        path.unlink(missing_ok=True)


def _uv(args: list[str], plan: PipPlan, what: str, credentials: Credentials | None = None,
        index_config: str | None = None) -> None:
    """One uv call, given only the logins it needs (none for wheels from our cache)."""
    with child_auth.child_auth(credentials or Credentials(), index_config) as auth:
        done = uv_tool.run([*args, *auth.uv_args], env=auth.env)
    if done.returncode == 0:
        return
    tail = done.tail()
    if "hash mismatch" in tail.lower() or "hashes" in tail.lower() and "mismatch" in tail.lower():
        raise IntegrityError(f"{what}: an artifact does not match the lockfile's sha256:\n{tail}")
    raise FetchError(f"{what} failed (uv exit {done.returncode}):\n{tail}",
                     hint="check the logins for the git hosts and indexes (as ${VARIABLES} in the URLs, in "
                          "~/.netrc, or a git credential helper)" if "auth" in tail.lower() else None)

"""The PyPI part of a prefix: uv installs the locked artifacts into the prefix's own Python (no
resolution, hashes required); removals go by the expected state's file lists.

Wheels (and hashed sdists) are installed from our verified cache, never from the network, so
online and ``--offline`` installs are the same operation. uv records a local path it installed
from in ``direct_url.json`` and ``uv_cache.json`` (outside the prefix and different per machine):
both are removed with their RECORD lines, as PEP 610 asks for artifacts that came from an index;
git packages keep theirs (the URL and commit, nothing local). Conda-owned distributions are
never handed to uv.

After uv ran, each installed distribution's expected files are its wheel's members (digests from
the verified wheel), plus what uv itself wrote (RECORD, INSTALLER, REQUESTED, scripts), recorded
from the prefix right away. Git packages, sdists and local projects have no verified wheel: all
their files are recorded from what uv built and installed.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .. import faults, scratch
from ..engines import child_auth, uv as uv_tool
from ..errors import FetchError, IntegrityError
from ..inputs.variables import expand
from ..secrets import Credentials
from .desired import PypiWant, normalized
from .expected import PackageState, file_state_of, site_packages
from .project_inputs import ProjectInputs
from .tree import remove_files

UV_COMMON = ("--no-deps", "--link-mode", "copy")


@dataclass
class PipPlan:
    prefix: Path
    python: str  # full version: where site-packages is
    project: Path  # where local project paths live
    inputs: ProjectInputs  # the project's ${VAR} values, logins and indexes (for git packages and local projects)
    offline: bool = False
    fresh_cache: bool = False  # bypass uv's unpacked-archive cache (repairs: it may hold altered files)


def uninstall(prefix: Path, package: PackageState) -> None:
    """Remove a distribution's expected files, its RECORD last: a run killed half-way leaves a
    prefix that the next run's full check finishes clearing."""
    records = sorted(p for p in package.files if p.endswith(".dist-info/RECORD"))
    remove_files(prefix, sorted(package.files), last=tuple(records))


def install(plan: PipPlan, wants: list[PypiWant], meanwhile: Callable[[], object] | None = None
            ) -> dict[str, PackageState]:
    """Install ``wants`` (replacing whatever is there); return their expected states by key.
    ``meanwhile()`` (work on other files of the prefix) runs while the first uv call does."""
    pending = [meanwhile] if meanwhile is not None else []

    def next_meanwhile():
        return pending.pop() if pending else None

    if not wants:
        if pending:
            pending.pop()()
        return {}
    python = plan.prefix / "bin" / "python"
    base = ["pip", "install", *uv_tool.COMMON, "--python", str(python), *UV_COMMON]
    if plan.offline:
        base.append("--offline")
    if plan.fresh_cache:
        base.append("--no-cache")
    with scratch.private_dir("pip") as folder:
        hashed = [w for w in wants if w.kind in ("wheel", "sdist")]
        if hashed:  # from our verified cache (file:// URLs): no login needed
            reqs = folder / "locked.txt"
            reqs.write_text("".join(f"{w.name} @ {w.artifact.as_uri()} --hash=sha256:{w.sha256}\n" for w in hashed))
            # Only local files: offline, uv looks for nothing else (51 wheels: 0.45 -> 0.27 s); an sdist's
            # build may need its build requirements from the indexes. No --reinstall (it unpacks every
            # wheel again, +0.2 s): no distribution of these names is left (removed by their expected
            # files, or cleared as unexpected in a checking run).
            local = ["--offline"] if all(w.kind == "wheel" for w in hashed) and not plan.offline else []
            _uv([*base, *local, "--require-hashes", "-r", str(reqs)], plan, "installing wheels",
                meanwhile=next_meanwhile())
            faults.point("wheels-installed")
        vcs = [w for w in wants if w.kind == "vcs"]
        if vcs:
            reqs = folder / "vcs.txt"
            reqs.write_text("".join(f"{w.name} @ {vcs_url(w, plan)}\n" for w in vcs))
            _uv([*base, *[a for w in vcs for a in ("--reinstall-package", w.name)], *plan.inputs.index_args, "-r", str(reqs)],
                plan, "installing git packages", with_logins=True,  # the git hosts', and the indexes' for builds
                meanwhile=next_meanwhile())
    for want in wants:
        if want.kind == "local":
            _uv([*base, "--reinstall-package", want.name, *plan.inputs.index_args, str((plan.project / want.url).resolve())],
                plan, f"building the local project {want.name} ({want.url})", with_logins=True,
                meanwhile=next_meanwhile())
    site = plan.prefix / site_packages(plan.python)
    installed = None  # the dist-infos by name, for what has no wheel to say where its dist-info is
    states = {}
    for want in wants:
        layout = want.layout(plan.python)
        if layout is None and installed is None:
            installed = _dist_infos(site)
        dist_info = site / layout.dist_info if layout is not None else installed.get(want.name)
        if dist_info is None or not dist_info.is_dir():
            raise IntegrityError(f"uv reported success but {want.name} {want.version} is not in {site}")
        record = _record_text(dist_info)
        if want.kind != "vcs":
            record = _scrub_local_source(dist_info, record)
        states[want.key] = PackageState(want.key, want.identity, want.version,
                                        encoded=_files(plan, want, record_rows(record)))
    return states


def vcs_url(want: PypiWant, plan: PipPlan) -> str:
    """The lockfile's git URL with its ${VAR}s expanded, without any login (kept by origin, for git's
    credential helper: a login in the URL would reach git's argv)."""
    return plan.inputs.credentials.add_url(expand(want.url, dict(plan.inputs.variables), "lockfile"), "the lockfile")


def _files(plan: PipPlan, want: PypiWant, rows: list[str]) -> dict[str, list]:
    """The distribution's files (expected.json's form): the wheel's members as the wheel holds
    them, the rest as uv wrote it."""
    known = want.member_files(plan.python)
    site_rel = site_packages(plan.python)
    files = {}
    for row in rows:
        path = f"{site_rel}/{row}"
        entry = known.get(path)  # the keys are normalized: a hit needs no normpath
        if entry is None:
            path = normalized(path)
            entry = known.get(path) or file_state_of(plan.prefix / path).to_json()
        files[path] = entry
    unlisted = sorted(set(known) - set(files))
    if unlisted:
        raise IntegrityError(f"{want.name} {want.version}: uv did not install {', '.join(unlisted[:3])}, which the "
                             "wheel holds", hint="run 'materialize install --repair'")
    return files


def _record_text(dist_info: Path) -> str:
    try:
        return (dist_info / "RECORD").read_text()
    except OSError:
        return ""


def record_rows(record: str) -> list[str]:
    """The paths a dist-info's RECORD text lists (relative to site-packages)."""
    return [row[0] for row in csv.reader(record.splitlines()) if row and row[0]]


def _dist_infos(site: Path) -> dict[str, Path]:
    from packaging.utils import canonicalize_name

    return {canonicalize_name(p.name[: -len(".dist-info")].rpartition("-")[0]): p for p in sorted(site.glob("*.dist-info"))}


def _scrub_local_source(dist_info: Path, record: str) -> str:
    """Remove what uv records about a local source it installed from (our cache or a project
    folder): a ``file:`` direct_url.json and uv_cache.json, with their lines of ``record`` (the
    RECORD's text); return the RECORD's text as it is now."""
    drop = [dist_info / "uv_cache.json"] if (dist_info / "uv_cache.json").exists() else []
    try:
        if json.loads((dist_info / "direct_url.json").read_text()).get("url", "").startswith("file:"):
            drop.append(dist_info / "direct_url.json")
    except (OSError, ValueError, AttributeError):
        pass
    if not drop:
        return record
    path = dist_info / "RECORD"
    if record:
        lines = tuple(f"{dist_info.name}/{f.name}," for f in drop)
        record = "".join(r for r in record.splitlines(keepends=True) if not r.startswith(lines))
        temp = path.with_name("RECORD.tmp")
        temp.write_text(record)
        os.chmod(temp, os.stat(path).st_mode & 0o7777)
        os.replace(temp, path)
    for f in drop:
        f.unlink(missing_ok=True)
    return record


def _uv(args: list[str], plan: PipPlan, what: str, *, with_logins: bool = False,
        meanwhile: Callable[[], object] | None = None) -> None:
    """One uv call; only builds (git packages, local projects) get the indexes and the logins. One
    uv cache per Python minor: uv reuses what it built from an sdist whatever Python asks next."""
    plan.inputs.before_children()  # the project's secrets registered: uv must not inherit them
    logins, config = (plan.inputs.credentials, plan.inputs.index_config) if with_logins else (Credentials(), None)
    minor = ".".join(plan.python.split(".")[:2])
    with child_auth.child_auth(logins, config) as auth:
        env = {**auth.env, "UV_CACHE_DIR": str(uv_tool.resolve_cache(minor))}
        done = uv_tool.run([*args, *auth.uv_args], env=env, meanwhile=meanwhile)
    if done.returncode == 0:
        return
    tail = done.tail()
    if "hash mismatch" in tail.lower() or "hashes" in tail.lower() and "mismatch" in tail.lower():
        raise IntegrityError(f"{what}: an artifact does not match the lockfile's sha256:\n{tail}")
    raise FetchError(f"{what} failed (uv exit {done.returncode}):\n{tail}",
                     hint="check the logins for the git hosts and indexes (as ${VARIABLES} in the URLs, in "
                          "~/.netrc, or a git credential helper)" if "auth" in tail.lower() else None)

"""Install the locked PyPI artifacts into the prefix's own Python with uv: no resolution, hashes required.

Conda-owned distributions are never passed to uv, never uninstalled: only distributions that
uv installed and the lock no longer holds are removed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from . import uv_tool
from .credentials import Credentials
from .errors import FetchError, IntegrityError, MaterializeError
from .lockfile import PipEntry
from .requirements import expand


@dataclass
class PipPlan:
    prefix: Path
    entries: list[PipEntry]
    local_projects: list[dict[str, str]]  # name, version, path, digest
    project: Path  # where local project paths and .env live
    variables: Mapping[str, str]
    credentials: Credentials
    index_args: list[str] = field(default_factory=list)  # for building local projects only
    offline: bool = False


def site_packages(prefix: Path) -> Path:
    found = sorted(prefix.glob("lib/python3*/site-packages"))
    if not found:
        raise MaterializeError(f"{prefix}: no lib/python3.*/site-packages; the conda part holds no Python")
    return found[-1]


def installed_by_uv(prefix: Path) -> dict[str, str]:
    """Distributions whose INSTALLER is uv: name -> version."""
    from packaging.utils import canonicalize_name

    found = {}
    for dist_info in site_packages(prefix).glob("*.dist-info"):
        installer = dist_info / "INSTALLER"
        if installer.is_file() and installer.read_text().strip() == "uv":
            name, _, version = dist_info.name[: -len(".dist-info")].rpartition("-")
            found[canonicalize_name(name)] = version
    return found


def sync(plan: PipPlan) -> tuple[list[str], list[str]]:
    """Make the uv-installed distributions exactly the lock's; returns (installed, removed)."""
    python = plan.prefix / "bin" / "python"
    wanted = {e.name for e in plan.entries} | {p["name"] for p in plan.local_projects}
    current = installed_by_uv(plan.prefix)
    stale = sorted(set(current) - wanted)
    if stale:
        _uv(["pip", "uninstall", *uv_tool.COMMON, "--python", str(python), *stale], plan, "removing " + ", ".join(stale))
    changed = [e for e in plan.entries if current.get(e.name) != e.version or e.url.startswith("git+")]
    with tempfile.TemporaryDirectory(prefix="materialize-pip-") as folder:
        hashed = [e for e in changed if e.sha256]
        if hashed:
            reqs = Path(folder) / "locked.txt"
            reqs.write_text("".join(f"{e.name} @ {e.url} --hash=sha256:{e.sha256}\n" for e in hashed))
            _uv(["pip", "install", *uv_tool.COMMON, "--python", str(python), "--no-deps", "--require-hashes",
                 "--link-mode", "copy", "--reinstall", "-r", str(reqs), *_offline(plan)], plan, "installing wheels")
        vcs = [e for e in changed if not e.sha256]
        if vcs:
            reqs = Path(folder) / "vcs.txt"
            lines = [f"{e.name} @ {plan.credentials.add_url_in_vcs(expand(e.url, dict(plan.variables), 'lockfile'))}"
                     for e in vcs]
            reqs.write_text("\n".join(lines) + "\n")
            _uv(["pip", "install", *uv_tool.COMMON, "--python", str(python), "--no-deps", "--link-mode", "copy",
                 *[a for e in vcs for a in ("--reinstall-package", e.name)], "-r", str(reqs), *_offline(plan)],
                plan, "installing git packages")
    for local in plan.local_projects:
        path = (plan.project / local["path"]).resolve()
        _uv(["pip", "install", *uv_tool.COMMON, "--python", str(python), "--no-deps", "--link-mode", "copy",
             "--reinstall-package", local["name"], *plan.index_args, str(path), *_offline(plan)],
            plan, f"building the local project {local['name']} ({local['path']})")
    return sorted(e.name for e in changed) + [p["name"] for p in plan.local_projects], stale


def _offline(plan: PipPlan) -> list[str]:
    return ["--offline"] if plan.offline else []


def _uv(args: list[str], plan: PipPlan, what: str) -> None:
    with plan.credentials.child_env() as env:
        done = uv_tool.run(args, env=env)
    if done.returncode == 0:
        return
    tail = done.tail()
    if "hash mismatch" in tail.lower() or "hashes" in tail.lower() and "mismatch" in tail.lower():
        raise IntegrityError(f"{what}: an artifact does not match the lockfile's sha256:\n{tail}")
    raise FetchError(f"{what} failed (uv exit {done.returncode}):\n{tail}")

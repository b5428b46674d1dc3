"""Check a prefix against its lockfile and its manifest; report drift by package.

Checks, in order: the stamp (the last install finished) and its lockfile digest; the conda
records (conda-meta) against the lockfile's conda entries; the uv-installed distributions against
its PyPI entries (version, and the artifact recorded at install); every file against the manifest
(bytes, mode, link target): modified, missing and unexpected files, each attributed to the package
that owns it (conda-meta ``files``, dist-info ``RECORD``).

Bytecode that the prefix's own Python writes when it runs (``__pycache__/*.pyc`` not in the
manifest) is not drift: no .pyc is installed, so any there was compiled by running the
environment. Verify only reads: it works on a read-only mount and takes no lock.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import conda_meta, state as prefix_state
from .. import lockfile, platforms
from ..errors import InputError, IntegrityError

_RUNTIME_BYTECODE = re.compile(r"(?:^|/)__pycache__/[^/]+\.pyc$")
NO_PACKAGE = "(no package)"
KINDS = ("modified", "missing", "unexpected")


@dataclass
class FileDrift:
    kind: str  # modified | missing | unexpected
    path: str
    package: str  # "conda:<name>", "pypi:<name>" or NO_PACKAGE


@dataclass
class VerifyReport:
    prefix: Path
    lockfile: Path | None
    problems: list[str] = field(default_factory=list)
    files: list[FileDrift] = field(default_factory=list)
    checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems and not self.files

    def by_package(self) -> dict[str, dict[str, list[str]]]:
        grouped: dict[str, dict[str, list[str]]] = {}
        for drift in self.files:
            grouped.setdefault(drift.package, {k: [] for k in KINDS})[drift.kind].append(drift.path)
        return dict(sorted(grouped.items()))

    def lines(self) -> list[str]:
        against = f"{self.lockfile.name} and its manifest" if self.lockfile else "its manifest (no lockfile given)"
        if self.ok:
            return [f"{self.prefix} matches {against}: {self.checked} files checked"]
        counts = {k: sum(1 for d in self.files if d.kind == k) for k in KINDS}
        lines = [f"{self.prefix} has drifted from {against}: " + ", ".join(f"{n} {k}" for k, n in counts.items())
                 + f" files, {len(self.problems)} other problems"]
        lines += [f"  {problem}" for problem in self.problems]
        for package, kinds in self.by_package().items():
            lines.append(f"  {package}")
            lines += [f"    {kind:<10} {path}" for kind in KINDS for path in kinds[kind]]
        return lines

    def as_data(self) -> dict[str, Any]:
        return {"prefix": str(self.prefix), "lockfile": str(self.lockfile) if self.lockfile else None,
                "ok": self.ok, "checked_files": self.checked, "problems": self.problems,
                **{kind: [{"path": d.path, "package": d.package} for d in self.files if d.kind == kind]
                   for kind in KINDS},
                "by_package": self.by_package()}

    def raise_on_drift(self) -> None:
        if self.ok:
            return
        counts = ", ".join(f"{sum(1 for d in self.files if d.kind == k)} {k}" for k in KINDS)
        raise IntegrityError(f"{self.prefix} does not match what was installed ({counts} files, "
                             f"{len(self.problems)} other problems)",
                             hint="re-create it: remove the folder, then 'materialize install --prefix ...'",
                             data=self.as_data())


def verify(prefix: Path, lockfile_path: Path | None) -> VerifyReport:
    if not prefix.is_dir():
        raise InputError(f"{prefix}: no such environment directory", hint="materialize install --prefix DIR")
    report = VerifyReport(prefix, lockfile_path)
    stamp = prefix_state.read_stamp(prefix)
    manifest = prefix_state.read_manifest(prefix)
    if stamp is None or manifest is None:
        report.problems.append("the last install did not finish (no stamp or manifest in .materialize/); "
                               "run 'materialize install' again to complete it")
    if lockfile_path is not None:
        _check_lock(report, stamp, lockfile_path)
    if manifest is not None:
        _check_files(report, manifest)
    return report


def _check_lock(report: VerifyReport, stamp: prefix_state.Stamp | None, path: Path) -> None:
    lock = lockfile.read(path)
    if stamp is not None and stamp.lock_digest != lockfile.file_digest(path):
        report.problems.append(f"installed from another lockfile than {path.name} (lock digest "
                               f"{stamp.lock_digest[:12]} != {lockfile.file_digest(path)[:12]})")
    platform = stamp.platform if stamp is not None else platforms.host()
    conda, pip = lock.for_platform(platform)
    _compare("conda", {e.name: f"{e.version}-{e.build} sha256:{e.sha256[:12]}" for e in conda},
             {name: f"{r.get('version')}-{r.get('build')} sha256:{str(r.get('sha256', ''))[:12]}"
              for name, r in conda_meta.records(report.prefix).items()}, report)
    _check_pypi(report, pip, lock.local_projects)


def _check_pypi(report: VerifyReport, pip: list[lockfile.PipEntry], local_projects: list[dict[str, str]]) -> None:
    from . import pypi as pypi_install
    from ..errors import MaterializeError

    try:
        installed = pypi_install.installed_by_uv(report.prefix)
    except MaterializeError:
        installed = {}
    artifacts = prefix_state.read_pypi(report.prefix)
    canonical = pypi_install.canonical_name
    wanted = {canonical(e.name): f"{e.version} {_artifact(e.sha256 or e.url)}" for e in pip}
    wanted.update({canonical(p["name"]): f"{p['version']} (local project)" for p in local_projects})
    found = {}
    for name, version in installed.items():
        artifact = artifacts.get(name, "")
        source = "(local project)" if artifact.startswith("source:") else _artifact(artifact) or "(unknown artifact)"
        found[name] = f"{version} {source}"
    _compare("PyPI", wanted, found, report)


def _artifact(key: str) -> str:
    return f"sha256:{key[:12]}" if re.fullmatch(r"[0-9a-f]{64}", key) else key


def _compare(side: str, wanted: dict[str, str], found: dict[str, str], report: VerifyReport) -> None:
    for name in sorted(set(wanted) | set(found)):
        if name not in found:
            report.problems.append(f"{side} package {name} {wanted[name]} is in the lockfile but not installed")
        elif name not in wanted:
            report.problems.append(f"{side} package {name} {found[name]} is installed but not in the lockfile")
        elif wanted[name] != found[name]:
            report.problems.append(f"{side} package {name}: installed {found[name]}, the lockfile has {wanted[name]}")


def _check_files(report: VerifyReport, manifest: dict[str, dict[str, object]]) -> None:
    actual = prefix_state.scan(report.prefix)
    report.checked = len(manifest)
    owners = owners_of(report.prefix)
    for path in sorted(set(manifest) | set(actual)):
        if path not in actual:
            kind = "missing"
        elif path not in manifest:
            if _RUNTIME_BYTECODE.search(path):
                continue
            kind = "unexpected"
        elif manifest[path] != actual[path]:
            kind = "modified"
        else:
            continue
        report.files.append(FileDrift(kind, path, owners.get(path, NO_PACKAGE)))


def owners_of(prefix: Path) -> dict[str, str]:
    """Relative path -> owning package: conda-meta ``files`` first, then uv-installed dists' RECORD."""
    owners: dict[str, str] = {}
    for site in sorted(prefix.glob("lib/python3*/site-packages")):
        for dist_info in sorted(site.glob("*.dist-info")):
            name = dist_info.name[: -len(".dist-info")].rpartition("-")[0]
            for rel in _record_paths(dist_info):
                owners[os.path.relpath(os.path.normpath(site / rel), prefix)] = f"pypi:{name}"
    for name, record in conda_meta.records(prefix).items():
        for rel in record.get("files", []):
            owners[rel] = f"conda:{name}"
        owners[f"conda-meta/{record['_record']}"] = f"conda:{name}"
    return owners


def _record_paths(dist_info: Path) -> list[str]:
    try:
        text = (dist_info / "RECORD").read_text()
    except OSError:
        return []
    return [row[0] for row in csv.reader(text.splitlines()) if row and row[0]]

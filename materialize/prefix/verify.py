"""Check a prefix against its expected state and its lockfile; report drift by package.

Checks, in order: the stamp (the last install finished) and its lockfile digest; the expected
state's packages against the lockfile's (conda archive sha256, wheel sha256, git URL, local
project); every file's bytes, mode and link target against the expected state, and everything
the expected state does not name: modified, missing and unexpected files, each attributed to its
package. Runtime bytecode of expected sources is not drift (``tree.runtime_bytecode``). Verify
only reads: it works on a read-only mount and takes no lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import lockfile
from ..errors import InputError, IntegrityError
from . import expected, state, tree
from .expected import ExpectedState

NO_PACKAGE = "(no package)"
KINDS = ("modified", "missing", "unexpected")


@dataclass
class FileDrift:
    kind: str  # modified | missing | unexpected
    path: str
    package: str  # "conda:<name>", "pypi:<name>", "materialize" or NO_PACKAGE


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
        against = f"{self.lockfile.name} and its expected state" if self.lockfile else \
            "its expected state (no lockfile given)"
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
                             hint="run 'materialize install --repair --prefix ...' to restore it",
                             data=self.as_data())


def verify(prefix: Path, lockfile_path: Path | None) -> VerifyReport:
    if not prefix.is_dir():
        raise InputError(f"{prefix}: no such environment directory", hint="materialize install --prefix DIR")
    report = VerifyReport(prefix, lockfile_path)
    stamp = state.read_stamp(prefix)
    recorded = expected.read(prefix)
    if stamp is None or recorded is None:
        report.problems.append("the last install did not finish (no stamp or expected state in .materialize/); "
                               "run 'materialize install' again to complete it")
    if recorded is not None and str(prefix) != recorded.prefix:
        report.problems.append(f"installed for the path {recorded.prefix}, found at {prefix}: conda prefixes "
                               "embed their path")
    if lockfile_path is not None:
        _check_lock(report, stamp, recorded, lockfile_path)
    if recorded is not None:
        _check_files(report, recorded)
    return report


def _check_lock(report: VerifyReport, stamp: state.Stamp | None, recorded: ExpectedState | None,
                path: Path) -> None:
    from packaging.utils import canonicalize_name

    from .install import wanted

    lock = lockfile.read(path)
    digest = lockfile.file_digest(path)
    if stamp is not None and stamp.lock_digest != digest:
        report.problems.append(f"installed from another lockfile than {path.name} (lock digest "
                               f"{stamp.lock_digest[:12]} != {digest[:12]})")
    platform = recorded.platform if recorded is not None else (stamp.platform if stamp else "")
    want = wanted(lock, digest, platform)
    have = {key: (p.version, p.identity) for key, p in (recorded.packages if recorded else {}).items()
            if key != expected.OWN}
    wants = {w.key: (f"{w.entry.version}-{w.entry.build}", w.identity) for w in want.conda}
    wants.update({w.key: (w.version, w.identity) for w in want.pypi})
    for local in lock.local_projects:  # built from the project's source as it was at install time
        key = f"pypi:{canonicalize_name(local['name'])}"
        wants[key] = (local["version"], have.get(key, ("", "source:"))[1])
    for key in sorted(set(wants) | set(have)):
        side, name = key.split(":", 1)
        side = "conda" if side == "conda" else "PyPI"
        if key not in have:
            report.problems.append(f"{side} package {name} {wants[key][0]} is in the lockfile but not installed")
        elif key not in wants:
            report.problems.append(f"{side} package {name} {have[key][0]} is installed but not in the lockfile")
        elif wants[key] != have[key]:
            report.problems.append(f"{side} package {name}: installed {_show(have[key])}, the lockfile has "
                                   f"{_show(wants[key])}")


def _show(version_identity: tuple[str, str]) -> str:
    version, identity = version_identity
    digest = identity.rpartition("sha256=")[2] if "#sha256=" in identity else identity
    short = f"sha256:{digest[:12]}" if len(digest) == 64 else identity
    return f"{version} ({short})"


def _check_files(report: VerifyReport, recorded: ExpectedState) -> None:
    wanted_files = recorded.files()
    drift = tree.compare(report.prefix, wanted_files)
    report.checked = drift.checked
    owners = recorded.owners()
    for kind in KINDS:
        for path in getattr(drift, kind):
            report.files.append(FileDrift(kind, path, owners.get(path, NO_PACKAGE)))

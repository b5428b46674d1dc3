"""The one owner of a prefix: asked to become a lock's wanted state, it decides what to keep,
remove and install, does it in a crash-safe order, and writes the expected state and, last, the stamp.

Two ways of deciding what to keep:

- **trusting**: the stamp is there and the package records are as it saw them, so the recorded
  expected state is what the prefix holds: packages whose identity (archive or wheel sha256, git
  URL, source digest) is unchanged stay untouched, the others are removed or replaced.
- **checking**: the last install did not finish (no stamp: a crash, a kill, a full disk), the
  package records changed behind our back (rattler, conda, pip or uv ran on the prefix), the
  Python minor version changed, or ``--repair`` was asked. Every file is held against the expected
  state; only packages that are intact stay, and everything else (stray files, half-written
  packages, engines' temp files, records of any kind) is cleared before those packages are
  installed again, with uv's unpacked-archive cache bypassed. The result is byte-identical to a
  clean install of the same lock at the same path.

The stamp is removed before the first change and written after the last, so an interrupted run
is always noticed by the next one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from .. import faults
from . import conda_link, expected, pypi, records, state, tree
from .desired import Want
from .expected import OWN, ExpectedState, PackageState
from .pypi import PipPlan

log = logging.getLogger(__name__)


@dataclass
class Changes:
    mode: str  # "trusting" | "checking"
    why: str = ""  # why the prefix was checked
    conda_added: list[str] = field(default_factory=list)
    conda_removed: list[str] = field(default_factory=list)
    pypi_added: list[str] = field(default_factory=list)
    pypi_removed: list[str] = field(default_factory=list)
    cleared: list[str] = field(default_factory=list)  # unexpected files removed (checking mode)
    drifted: list[str] = field(default_factory=list)  # packages found altered (checking mode)


@dataclass
class Decision:
    """What an install starts from: why every file is checked ("" when trusted), what stays."""

    why: str
    previous: ExpectedState | None
    candidates: dict[str, PackageState]  # what the prefix held (same Python minor)
    keep: dict[str, PackageState]  # unchanged in the lock (and intact, when checked)
    drifted: list[str] = field(default_factory=list)


class Prefix:
    def __init__(self, path: Path, tool_version: str) -> None:
        self.path = path
        self.tool_version = tool_version

    def why_check(self, want: Want, previous: ExpectedState | None, repair: bool) -> str:
        """Why every file must be checked ("" when the recorded state can be trusted)."""
        stamp = state.read_stamp(self.path)
        if repair:
            return "--repair"
        if not self._holds_anything():
            return ""
        if stamp is None:
            return "the last install did not finish"
        if previous is None:
            return "no expected state recorded"
        if stamp.tool_version != self.tool_version:
            return f"installed by materialize {stamp.tool_version}"
        if stamp.fingerprint != state.fingerprint(self.path, stamp.python):
            return "its packages were changed by another tool"
        if _minor(previous.python) != _minor(want.python):
            return f"Python {previous.python} -> {want.python}"
        return ""

    def decide(self, want: Want, *, repair: bool = False) -> Decision:
        """Read only: what stays. When checking, every file of what would stay is hashed."""
        previous = expected.read(self.path)
        why = self.why_check(want, previous, repair)
        # an emptied prefix (only .materialize/ left, e.g. after 'rm -rf env/*') keeps nothing
        same_python = (previous is not None and _minor(previous.python) == _minor(want.python)
                       and self._holds_anything())
        candidates = dict(previous.packages) if same_python else {}
        identities = want.identities()
        keep = {key: p for key, p in candidates.items() if identities.get(key) == p.identity}
        decision = Decision(why, previous, candidates, keep)
        if why and keep:
            malformed = [key for key, p in keep.items() if not _decodes(p)]  # reinstalled, as drifted
            readable = {key: p for key, p in keep.items() if key not in malformed}
            drift = tree.compare(self.path, _files_of(readable))
            owners = {path: key for key, p in readable.items() for path in p.paths()}
            decision.drifted = sorted({owners[path] for path in [*drift.modified, *drift.missing]} | set(malformed))
            decision.keep = {key: p for key, p in keep.items() if key not in decision.drifted}
        return decision

    def become(self, want: Want, plan: PipPlan, decision: Decision) -> Changes:
        """Make the prefix hold ``want``; ``decision`` comes from ``decide`` under the same prefix lock."""
        why, keep, candidates = decision.why, decision.keep, decision.candidates
        changes = Changes("checking" if why else "trusting", why, drifted=decision.drifted)
        state.clear_stamp(self.path)
        state.clear_leftovers(self.path, keep=(expected.EXPECTED,))
        faults.point("stamp-cleared")
        if why:
            changes.cleared = tree.clear_unexpected(self.path, _files_of(keep))
            faults.point("cleared")
        else:
            for key, package in sorted(candidates.items()):
                if key not in keep and package.manager == "pypi":
                    pypi.uninstall(self.path, package)
                    faults.point("pypi-removed")
        plan.fresh_cache = bool(why)
        done = dict(keep)
        linked = conda_link.link(self.path, want, keep, candidates, bool(why))
        done[OWN] = PackageState(OWN, OWN, self.tool_version, {records.HISTORY: records.history_state()})
        new_pypi = [w for w in want.pypi if w.key not in keep]
        def meanwhile() -> None:  # while uv installs the PyPI part (other files, another process)
            done.update(conda_link.settle(self.path, linked, want))
            for w in new_pypi:
                w.layout(want.python)

        done.update(pypi.install(plan, new_pypi, meanwhile=meanwhile))
        faults.point("pypi-installed")
        for key in sorted(set(candidates) - set(done)):
            gone = candidates[key]
            (changes.conda_removed if gone.manager == "conda" else changes.pypi_removed).append(gone.name)
        changes.conda_added = sorted(w.entry.name for w in want.conda if w.key not in keep)
        changes.pypi_added = sorted(w.name for w in new_pypi)
        final = ExpectedState(str(self.path), want.platform, want.python, want.lock_digest, done)
        if changes.cleared:
            owners = final.owners()
            changes.cleared = [path for path in changes.cleared if path not in owners]
        if why:
            self._check_new(final, keep)
        expected.write(self.path, final)
        faults.point("expected-written")
        state.fix_record_times(self.path, want.python)
        faults.point("times-fixed")
        state.write_stamp(self.path, state.Stamp(want.lock_digest, want.platform, want.python, self.tool_version,
                                                 state.fingerprint(self.path, want.python)))
        return changes

    def _holds_anything(self) -> bool:
        return any(child.name != expected.STATE_DIR for child in self.path.iterdir())

    def _check_new(self, final: ExpectedState, keep: dict) -> None:
        """After a checked install: the packages installed again hold exactly their expected bytes."""
        from ..errors import IntegrityError

        fresh = {path: s for key, p in final.packages.items() if key not in keep for path, s in p.files.items()}
        drift = tree.compare(self.path, fresh, tree=None)
        bad = drift.modified + drift.missing
        if bad:
            raise IntegrityError(f"{self.path}: after installing again, {len(bad)} files still differ from the "
                                 f"locked artifacts (first: {bad[0]})", hint="clear the cache (MATERIALIZE_CACHE_DIR) "
                                 "and run 'materialize install --repair'")


def _decodes(package: PackageState) -> bool:
    from ..errors import IntegrityError

    try:
        package.files
    except IntegrityError:
        return False
    return True


def _files_of(packages: dict[str, PackageState]) -> dict:
    return {path: s for p in packages.values() for path, s in p.files.items()}


def _minor(version: str | None) -> str | None:
    return ".".join(version.split(".")[:2]) if version else None

"""The conda part of a prefix: rattler links the packages that are not kept (and unlinks those no
longer wanted); then each linked package's record is replaced by ours and its expected state settled.

Settling (~180 records and ~25,000 lstats for a large environment) runs while uv installs the
PyPI part (``owner``): uv works in its own process on other files. Settling in a thread while
rattler links was tried and is slower: rattler's completions wait for the interpreter the thread
keeps busy.
"""

from __future__ import annotations

import json
from pathlib import Path

from .. import cache, faults
from ..engines import conda as conda_engine
from . import records
from .desired import CondaWant, Want
from .expected import PackageState


def link(prefix: Path, want: Want, keep: dict[str, PackageState], candidates: dict[str, PackageState],
         checked: bool) -> list[CondaWant]:
    """Link what ``keep`` lacks; return what was linked (to ``settle``)."""
    new = [w for w in want.conda if w.key not in keep]
    kept_records = [records.record_path(prefix, w) for w in want.conda if w.key in keep]
    removed = [key for key, p in candidates.items() if p.manager == "conda" and key not in keep]
    if not new and not removed:
        return []
    installed = kept_records if checked else [p for p in records.record_files(prefix)
                                              if records.read_raw(p) is not None]
    replaced = {w.entry.name for w in new} & {p.name for p in candidates.values() if p.manager == "conda"}
    conda_engine.link([w.archive for w in new], prefix, cache.bucket(cache.RATTLER), want.platform,
                      [w.entry.sha256 for w in new], kept=kept_records, installed=installed, reinstall=replaced)
    faults.point("conda-linked")
    stray_tag = prefix / "CACHEDIR.TAG"  # rattler tags the target prefix as if it were a cache
    if stray_tag.is_file() and "rattler" in stray_tag.read_text(errors="replace"):
        stray_tag.unlink()
    return new


def _linked_memo(package: CondaWant, python: str) -> Path:
    return cache.root() / cache.CONDA_LINKED / f"{package.entry.sha256}-py{'.'.join(python.split('.')[:2])}.json"


def _remembered_link(package: CondaWant, python: str) -> records.LinkedFiles | None:
    """What linking this package for this Python minor gave the files whose bytes its archive fixes,
    modes included (rattler copies them from the extraction: the same in every prefix), and which
    of its files are links or derived: remembered from its first link on this machine, so that an
    install neither walks its paths.json nor lstats its files again."""
    try:
        data = json.loads(_linked_memo(package, python).read_text())
        return records.LinkedFiles(dict(data["fixed"]), set(data["links"]), set(data["derived"]),
                                   {str(path): int(mode) for path, mode in data["modes"].items()})
    except (OSError, ValueError, TypeError, AttributeError, KeyError):
        return None


def _remember_link(package: CondaWant, python: str, known: records.LinkedFiles) -> None:
    cache.remember(_linked_memo(package, python), json.dumps(
        {"fixed": known.fixed, "links": sorted(known.links), "derived": sorted(known.derived), "modes": known.modes},
        sort_keys=True, separators=(",", ":")))


def settle(prefix: Path, linked: list[CondaWant], want: Want) -> dict[str, PackageState]:
    """Each linked package's expected state; its record replaced by ours."""
    settled = {}
    for package in linked:
        raw = records.read_raw(records.record_path(prefix, package))
        if raw is None or not records.written_by_rattler(raw, package):
            raise RuntimeError(f"rattler linked {package.stem} but wrote no readable record")
        known = _remembered_link(package, want.python)
        if known is None:
            known = records.linked_files(prefix, raw, package.files(want.python))
            files = records.linked_states(prefix, raw, known)  # refuses an incomplete link: not remembered
            _remember_link(package, want.python, known)
        else:
            files = records.linked_states(prefix, raw, known)
        channel = records.channel_of(package.entry.url, want.channels)
        files[f"{records.FOLDER}/{package.stem}.json"] = records.write_ours(prefix, package, raw, channel)
        faults.point("record-written")
        settled[package.key] = PackageState(package.key, package.identity,
                                            f"{package.entry.version}-{package.entry.build}", encoded=files).encode()
    records.settle_history(prefix)
    return settled

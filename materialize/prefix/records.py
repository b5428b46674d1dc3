"""conda-meta: the package records conda, micromamba, rattler and conda-pack read, as we write them.

rattler writes a record for each package it links. We replace it with the same record made
reproducible and complete for the other readers: the lockfile's URL, channel, md5 and sha256;
``link`` present as conda writes it (``{"source": "", "type": 3}``: copied, and no package-cache
path, which would differ per machine and point outside a mounted prefix); ``requested_spec`` and
``requested_specs`` from conda-packages.txt; no ``extracted_package_dir`` or
``package_tarball_full_path`` (cache paths); compact JSON, sorted keys, mode 0644. The record's
own bytes are part of the expected state, so an edited or half-normalized record is drift.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .desired import CondaWant
from .expected import FileState, file_json
from .state import atomic_write

FOLDER = "conda-meta"
HISTORY = f"{FOLDER}/history"
_MACHINE_FIELDS = ("extracted_package_dir", "package_tarball_full_path")  # cache paths; so is link.source
LINK = {"source": "", "type": 3}  # conda's LinkType 3: copy
DEFAULT_MODE = 0o644


def record_path(prefix: Path, want: CondaWant) -> Path:
    return prefix / FOLDER / f"{want.stem}.json"


def read_raw(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) and "name" in data and "files" in data else None


def written_by_rattler(raw: dict, want: CondaWant) -> bool:
    """rattler's record for this very archive, not (yet) ours: ours alone has ``requested_spec``
    next to a ``link`` without a source."""
    return raw.get("sha256") == want.entry.sha256 and not ("requested_spec" in raw and raw.get("link") == LINK)


def ours(raw: dict, want: CondaWant, channel: str) -> str:
    """The record as we keep it, from the one rattler just wrote for ``want``."""
    data = {key: value for key, value in raw.items() if key not in _MACHINE_FIELDS}
    entry = want.entry
    data.update(url=entry.url, channel=channel, fn=entry.url.rsplit("/", 1)[-1], sha256=entry.sha256,
                link=dict(LINK), requested_spec=want.requested[0] if want.requested else "",
                requested_specs=list(want.requested))
    if entry.md5:
        data["md5"] = entry.md5
    return json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n"


def write_ours(prefix: Path, want: CondaWant, raw: dict, channel: str) -> list:
    """Replace rattler's record with ours (atomically); return the record file's entry (expected.json's form)."""
    import hashlib

    text = ours(raw, want, channel)
    atomic_write(record_path(prefix, want), text, durable=False)
    body = text.encode()
    return file_json(0o644, len(body), hashlib.sha256(body).hexdigest())


@dataclass
class LinkedFiles:
    """What linking a package gives the files its archive fixes, for one Python minor, the same in
    every prefix: their entries (expected.json's form, with the modes rattler gave them), the
    paths that are links, those whose bytes linking derives (prefix-replaced, entry points), and the
    modes of every other file that is not ``DEFAULT_MODE``."""

    fixed: dict[str, list]
    links: set[str]
    derived: set[str]
    modes: dict[str, int]


def linked_files(prefix: Path, raw: dict, files) -> LinkedFiles:
    """From a package's ``desired.CondaFiles``, the record rattler just wrote for it (``raw``), and
    the modes its files have in ``prefix``."""
    base = os.fspath(prefix) + os.sep
    fixed, modes = {}, {}
    for path, (sha256, size) in files.digests.items():
        try:
            fixed[path] = file_json(os.lstat(base + path).st_mode & 0o7777, size, sha256)
        except FileNotFoundError:
            raise RuntimeError(f"rattler did not link {path} of {raw.get('name')}, which its archive holds") from None
    for path in set(raw.get("files", [])) - fixed.keys() - files.links:  # derived, and any rattler added
        try:
            mode = os.lstat(base + path).st_mode & 0o7777
        except FileNotFoundError:
            continue
        if mode != DEFAULT_MODE:
            modes[path] = mode
    return LinkedFiles(fixed, set(files.links), set(files.derived), modes)


def linked_states(prefix: Path, raw: dict, known: LinkedFiles) -> dict[str, list]:
    """Every file of a package rattler just linked, in expected.json's form: ``known.fixed`` as it
    is; the digest rattler records for what it derived (a prefix-replaced file's
    ``sha256_in_prefix``, a generated entry point) and for any file rattler linked that paths.json
    did not name; link targets as linked."""
    from .expected import file_state_of

    linked = set(raw.get("files", []))
    unlinked = sorted((known.fixed.keys() | known.links | known.derived) - linked)
    if unlinked:
        raise RuntimeError(f"rattler did not link {', '.join(unlinked[:5])} of {raw.get('name')}, which its "
                           "archive holds")
    states = dict(known.fixed)
    rest = linked - states.keys()
    for entry in (raw.get("paths_data") or {}).get("paths", []):
        path = entry.get("_path")
        if path not in rest:
            continue
        digest = entry.get("sha256_in_prefix") or entry.get("sha256")
        size = entry.get("size_in_bytes")
        if entry.get("path_type") == "softlink" or path in known.links or not digest or size is None:
            states[path] = file_state_of(prefix / path).to_json()
        else:
            states[path] = file_json(known.modes.get(path, DEFAULT_MODE), int(size), digest)
    return states


def history_state() -> FileState:
    import hashlib

    return FileState("file", 0o644, 0, hashlib.sha256(b"").hexdigest())


def settle_history(prefix: Path) -> None:
    """rattler creates an empty ``conda-meta/history`` (mode 0600); conda's is world-readable."""
    path = prefix / HISTORY
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    if path.stat().st_size:
        path.write_bytes(b"")
    os.chmod(path, 0o644)


def installed_python(prefix: Path) -> str | None:
    for path in (prefix / FOLDER).glob("python-[0-9]*.json"):
        raw = read_raw(path)
        if raw is not None and raw.get("name") == "python":
            return str(raw.get("version"))
    return None


def record_files(prefix: Path) -> list[Path]:
    return sorted((prefix / FOLDER).glob("*.json"))


def channel_of(url: str, channels: list[str]) -> str:
    for channel in channels:
        if url.startswith(channel.rstrip("/") + "/"):
            return channel
    return url.rsplit("/", 2)[0]

"""The prefix's files grouped into layers by package, each written as a reproducible gzipped tar.

Grouping (deterministic, from package names and sizes only): a package whose files hold at least
``SMALL_PACKAGE`` bytes is a layer of its own (at most ``MAX_OWN_LAYERS`` of the largest); the
others share ``SMALL_GROUPS`` layers, chosen by a hash of the package name, so that changing one
small package changes one shared layer. Files no package owns, empty folders and the state folder
make the last layer. At most 80 + 8 + 1 = 89 layers: well under what overlay-based runtimes
accept (about 125).

The bytes: a PAX tar, entries sorted by path with every parent folder as an entry before its
children, mtime 0, uid/gid 0, empty user and group names; gzip with mtime 0, no file name and
level ``GZIP_LEVEL``. The tar is the same on any machine; the gzip stream is the same for the same
zlib (another zlib implementation may compress differently: the layer's ``diff_id``, the
uncompressed digest, stays the same then, its blob digest not).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import IntegrityError
from .blobs import HashingReader
from .prefix_files import OWN_STATE, Entry

SMALL_PACKAGE = 1 << 20
SMALL_GROUPS = 8
MAX_OWN_LAYERS = 80
GZIP_LEVEL = 6
LAYER_FORMAT = 1  # changes whenever the bytes written for the same entries would change
_CHUNK = 1 << 20


@dataclass(frozen=True)
class LayerPlan:
    name: str  # "conda:python", "small-3" or "materialize"
    packages: tuple[str, ...]
    entries: tuple[Entry, ...]  # written in this order

    def key(self) -> str:
        """A digest of everything the layer's bytes depend on (for the built-layer cache)."""
        digest = hashlib.sha256(f"layer-format {LAYER_FORMAT} gzip {GZIP_LEVEL}\n".encode())
        for e in self.entries:
            digest.update(f"{e.path}\0{e.kind}\0{e.mode:o}\0{e.sha256}\0{e.target}\n".encode())
        return digest.hexdigest()


@dataclass(frozen=True)
class BuiltLayer:
    digest: str  # "sha256:<hex>" of the compressed blob
    diff_id: str  # "sha256:<hex>" of the tar
    size: int


def plan(entries: dict[str, Entry], state: dict[str, Entry]) -> list[LayerPlan]:
    sizes: dict[str, int] = {}
    for entry in entries.values():
        if entry.kind != "dir" and entry.owner != OWN_STATE:
            sizes[entry.owner] = sizes.get(entry.owner, 0) + max(entry.size, 0)
    large = sorted((p for p, n in sizes.items() if n >= SMALL_PACKAGE), key=lambda p: (-sizes[p], p))
    own = set(large[:MAX_OWN_LAYERS])
    group_of = {p: p if p in own else f"small-{_bucket(p)}" for p in sizes}
    members: dict[str, list[Entry]] = {}
    for entry in entries.values():
        if entry.kind != "dir":
            members.setdefault(group_of.get(entry.owner, OWN_STATE), []).append(entry)
    folders = {e.path: e for e in entries.values() if e.kind == "dir"}
    folders.update({e.path: e for e in state.values() if e.kind == "dir"})
    members.setdefault(OWN_STATE, []).extend(e for e in state.values() if e.kind != "dir")
    covered: set[str] = set()
    plans = []
    for name in sorted(members, key=lambda n: (n == OWN_STATE, n.startswith("small-"), n)):
        files = members[name]
        parents = {p for e in files for p in _parents(e.path)}
        if name == OWN_STATE:  # folders no other layer holds (empty ones)
            parents |= set(folders) - covered
            parents |= {p for f in list(parents) for p in _parents(f)}
        covered |= parents
        dirs = [folders[p] if p in folders else Entry(p, "dir", 0o755) for p in parents]
        ordered = tuple(sorted([*dirs, *files], key=lambda e: e.path.split("/")))
        packages = tuple(sorted({e.owner for e in files if e.owner != OWN_STATE}))
        plans.append(LayerPlan(name, packages, ordered))
    return plans


def _bucket(package: str) -> int:
    return int.from_bytes(hashlib.sha256(package.encode()).digest()[:4], "big") % SMALL_GROUPS


def _parents(rel: str) -> list[str]:
    parts = rel.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


class _Hashing:
    """A write-only stream that hashes and counts what passes through it."""

    def __init__(self, out) -> None:
        self.out, self.sha, self.size = out, hashlib.sha256(), 0

    def write(self, data) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.out.write(data)

    def flush(self) -> None:
        self.out.flush()


def write(prefix: Path, layer: LayerPlan, target: Path) -> BuiltLayer:
    """Write ``layer`` from ``prefix`` to the file ``target``; every file's bytes are checked against
    its expected sha256 on the way (a prefix changed since install is refused, exit 6)."""
    with open(target, "wb") as raw:
        compressed = _Hashing(raw)
        with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, compresslevel=GZIP_LEVEL, mtime=0) as zipped:
            plain = _Hashing(zipped)
            with tarfile.open(fileobj=plain, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                for entry in layer.entries:
                    _add(tar, prefix, entry)
        raw.flush()
        os.fsync(raw.fileno())
    return BuiltLayer(f"sha256:{compressed.sha.hexdigest()}", f"sha256:{plain.sha.hexdigest()}", compressed.size)


def _info(entry: Entry) -> tarfile.TarInfo:
    info = tarfile.TarInfo(entry.path)
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
    info.mode = entry.mode
    if entry.kind == "dir":
        info.type = tarfile.DIRTYPE
    elif entry.kind == "link":
        info.type, info.linkname, info.mode = tarfile.SYMTYPE, entry.target or "", 0o777
    else:
        info.type, info.size = tarfile.REGTYPE, entry.size
    return info


def _add(tar: tarfile.TarFile, prefix: Path, entry: Entry) -> None:
    if entry.kind != "file":
        _check_link(prefix, entry)
        tar.addfile(_info(entry))
        return
    with _open(prefix, entry) as handle:
        reader = HashingReader(handle)
        tar.addfile(_info(entry), reader)
    _check_digest(prefix, entry, reader)


def check(prefix: Path, layer: LayerPlan) -> None:
    """What `write` checks, without writing: the prefix still holds ``layer``'s files as installed."""
    for entry in layer.entries:
        if entry.kind != "file":
            _check_link(prefix, entry)
            continue
        with _open(prefix, entry) as handle:
            reader = HashingReader(handle)
            while reader.read(_CHUNK):
                pass
        _check_digest(prefix, entry, reader)


def _open(prefix: Path, entry: Entry):
    try:
        handle = os.fdopen(os.open(prefix / entry.path, os.O_RDONLY | os.O_NOFOLLOW), "rb")
    except OSError as err:
        raise _drift(prefix, entry, f"cannot be read ({err.strerror})") from err
    if os.fstat(handle.fileno()).st_size != entry.size:
        handle.close()
        raise _drift(prefix, entry, "changed size since install")
    return handle


def _check_link(prefix: Path, entry: Entry) -> None:
    path = prefix / entry.path
    if entry.kind == "link" and (not path.is_symlink() or os.readlink(path) != entry.target):
        raise _drift(prefix, entry, "is not the symbolic link that was installed")


def _check_digest(prefix: Path, entry: Entry, reader: HashingReader) -> None:
    if reader.sha.hexdigest() != entry.sha256:
        raise _drift(prefix, entry, "changed since install (its sha256 differs from the manifest)")


def _drift(prefix: Path, entry: Entry, what: str) -> IntegrityError:
    return IntegrityError(f"{prefix}/{entry.path} {what}: refusing to ship a drifted environment",
                          hint=f"materialize verify --prefix {prefix}; re-create it with 'materialize install'")

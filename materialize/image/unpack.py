"""Verified layers -> an environment directory, the way install leaves one. One entry point: `write_prefix`.

A layer's members must be relative paths inside the prefix (no ``..``, no absolute names, no
writing through a symbolic link): regular files, folders and symbolic links only.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import os
import shutil
import stat
import tarfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .. import faults
from ..errors import FetchError, InputError, IntegrityError
from ..prefix import state as prefix_state
from ..prefix.expected import ExpectedState, FileState
from ..prefix.lock import PrefixLock
from .blobs import HashingReader

LOCK_NAME = prefix_state.LOCK
STAMP_PATH = f"{prefix_state.STATE_DIR}/{prefix_state.STAMP}"
_CHUNK = 1 << 20
_TEMP_SUFFIX = ".materialize-tmp"


@dataclass(frozen=True)
class Layer:
    path: Path  # a verified blob: gzipped (or plain) tar
    diff_id: str  # "sha256:<hex>" of the tar


@dataclass
class _Run:
    prefix: Path
    expected: dict[str, FileState]  # the image's expected state: every file and link outside .materialize/
    written: set[str] = field(default_factory=set)
    links: set[str] = field(default_factory=set)
    folders: dict[str, int] = field(default_factory=dict)  # path -> mode, applied at the end
    ready: set[str] = field(default_factory=set)  # folders already made real in this run
    stamp: bytes | None = None
    kept: int = 0


def write_prefix(prefix: Path, layers: Sequence[Layer], expected: ExpectedState) -> int:
    """Make ``prefix`` hold exactly the files of ``layers`` (applied in order); return how many
    files were already right and kept.

    Contract. ``prefix`` is absent, empty or a materialize prefix (it has ``.materialize/``);
    anything else is refused (exit 3) before anything changes. The work happens under the prefix
    lock (``.materialize/lock``). The stamp is removed first and written last (the layers'
    ``.materialize/stamp.json``), so a prefix left by a killed run counts as unfinished and a
    re-run converges on the same tree. A file that already holds the right bytes and mode (a link
    its target) is kept as it is; others are written through a temp name and renamed into place;
    whatever the layers do not hold is removed (the lock file excepted). Every file written or kept
    must equal its entry in ``expected`` (the image's own expected state: the prefix outside
    ``.materialize/``), nothing may be missing, and each layer's tar must hash to its ``diff_id``:
    otherwise IntegrityError (exit 6), with the stamp still absent. Package records get the fixed
    time install gives them (``state.fix_record_times``), so the stamp's fingerprint holds.
    """
    _refuse_foreign(prefix)
    prefix.mkdir(parents=True, exist_ok=True)
    with PrefixLock(prefix):
        prefix_state.clear_stamp(prefix)
        faults.point("pull-stamp-cleared")
        run = _Run(prefix, expected.files())
        for layer in layers:
            _apply_layer(run, layer)
            faults.point("pull-layer")
        _sweep(run)
        faults.point("pull-swept")
        _check_complete(run)
        for rel, mode in sorted(run.folders.items(), key=lambda item: -item[0].count("/")):
            os.chmod(prefix / rel, mode)
        prefix_state.fix_record_times(prefix, expected.python)
        faults.point("pull-times-fixed")
        if run.stamp is None:
            raise IntegrityError(f"the image holds no {STAMP_PATH}: not a finished environment")
        _write_new(prefix / STAMP_PATH, run.stamp, 0o644)
    return run.kept


@contextlib.contextmanager
def os_errors(prefix: Path, doing: str):
    """OS errors as a user can act on them, naming the path: a full disk is exit 5, a read-only or
    forbidden path exit 3."""
    try:
        yield
    except OSError as err:
        where = err.filename or prefix
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise FetchError(f"{where}: no space left on the device while {doing}",
                             hint="free some space, then run the same command again: it finishes the job") from err
        if err.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise InputError(f"{where}: {os.strerror(err.errno).lower()} (while {doing})",
                             hint="pick a --prefix you can write to") from err
        raise


def _refuse_foreign(prefix: Path) -> None:
    if prefix.is_symlink() or (prefix.exists() and not prefix.is_dir()):
        raise InputError(f"{prefix}: exists and is not a folder")
    if prefix.is_dir() and any(prefix.iterdir()) and not (prefix / prefix_state.STATE_DIR).is_dir():
        raise InputError(f"{prefix}: not empty and not a materialize environment (no {prefix_state.STATE_DIR}/); "
                         "refusing to replace what it holds", hint="pull into an empty or new folder")


def _open_tar_stream(path: Path):
    raw = path.open("rb")
    magic = raw.read(2)
    raw.seek(0)
    return raw, (gzip.GzipFile(fileobj=raw, mode="rb") if magic == b"\x1f\x8b" else raw)


def _each_member(layer: Layer, visit) -> None:
    """``visit(tar, member)`` for every member, in order; then the whole tar (its end padding too)
    must hash to the layer's ``diff_id``. Errors of ``visit`` itself (a full disk) pass through."""
    raw, plain = _open_tar_stream(layer.path)
    with raw:
        reader = HashingReader(plain)
        try:
            with tarfile.open(fileobj=reader, mode="r|") as tar:
                for member in tar:
                    visit(tar, member)
            while reader.read(_CHUNK):
                pass
        except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as err:
            raise IntegrityError(f"a layer of the image is not a readable tar ({err})") from err
    if f"sha256:{reader.sha.hexdigest()}" != layer.diff_id:
        raise IntegrityError(f"a layer's content hashes to sha256:{reader.sha.hexdigest()}, but the image config "
                             f"says {layer.diff_id}")


def _apply_layer(run: _Run, layer: Layer) -> None:
    _each_member(layer, lambda tar, member: _apply_member(run, tar, member))


def _member_path(member: tarfile.TarInfo) -> str:
    name = member.name
    while name.startswith("./"):
        name = name[2:]
    name = name.rstrip("/")
    parts = name.split("/")
    if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts) or \
            any(p.startswith(".wh.") for p in parts):
        raise IntegrityError(f"the image holds an unsafe or unsupported path {member.name!r}")
    return name


def _apply_member(run: _Run, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
    rel = _member_path(member)
    if rel == f"{prefix_state.STATE_DIR}/{LOCK_NAME}":
        raise IntegrityError(f"the image holds {rel}, which belongs to the machine that installs it")
    target = run.prefix / rel
    _prepare_parents(run, rel)
    mode = stat.S_IMODE(member.mode)
    if member.isdir():
        if rel in run.links:
            raise IntegrityError(f"the image turns the symbolic link {rel!r} into a folder")
        if target.is_symlink() or (target.exists() and not target.is_dir()):
            target.unlink()
        target.mkdir(mode=0o755, exist_ok=True)
        run.folders[rel] = mode
        run.ready.add(rel)
    elif member.issym():
        want = run.expected.get(rel)
        if want is None or want.kind != "link" or want.target != member.linkname:
            raise IntegrityError(f"{rel}: the image's symbolic link differs from its own expected state")
        if rel in run.ready or rel in run.folders:
            raise IntegrityError(f"the image turns the folder {rel!r} into a symbolic link")
        _place_link(target, member.linkname)
        run.links.add(rel)
    elif member.isreg():
        source = tar.extractfile(member)
        assert source is not None
        if rel == STAMP_PATH:
            run.stamp = source.read()
        else:
            _place_file(run, rel, target, source, member.size, mode)
    else:
        raise IntegrityError(f"the image holds {rel!r} of a kind materialize does not write (tar type {member.type!r})")
    run.written.add(rel)


def _prepare_parents(run: _Run, rel: str) -> None:
    """Every parent folder exists as a real folder; a symbolic link the layers made is never followed."""
    parts = rel.split("/")[:-1]
    for i in range(len(parts)):
        parent = "/".join(parts[: i + 1])
        if parent in run.ready:
            continue
        path = run.prefix / parent
        if path.is_symlink():
            if parent in run.links:
                raise IntegrityError(f"the image writes {rel!r} through the symbolic link {parent!r}")
            path.unlink()  # a link left by the previous environment
        if not path.is_dir():
            if path.exists():
                path.unlink()
            path.mkdir(mode=0o755)
            run.folders.setdefault(parent, 0o755)
        run.ready.add(parent)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _place_link(target: Path, link: str) -> None:
    if target.is_symlink() and os.readlink(target) == link:
        return
    temp = target.with_name(target.name + _TEMP_SUFFIX)
    _remove(temp)
    os.symlink(link, temp)
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    os.replace(temp, target)


def _place_file(run: _Run, rel: str, target: Path, source, size: int, mode: int) -> None:
    want = run.expected.get(rel)
    if want is None and not rel.startswith(prefix_state.STATE_DIR + "/"):
        raise IntegrityError(f"the image holds {rel!r}, which its own expected state does not list")
    if want is not None and _holds(target, size, mode, want.sha256):
        while source.read(_CHUNK):
            pass
        run.kept += 1
        return
    temp = target.with_name(target.name + _TEMP_SUFFIX)
    _remove(temp)
    sha = hashlib.sha256()
    handle = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(handle, "wb") as out:
        for chunk in iter(lambda: source.read(_CHUNK), b""):
            sha.update(chunk)
            out.write(chunk)
        os.fchmod(out.fileno(), mode)
    if want is not None and (want.kind != "file" or sha.hexdigest() != want.sha256 or mode != want.mode):
        temp.unlink()
        raise IntegrityError(f"{rel}: the image's bytes or mode differ from its own expected state")
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    os.replace(temp, target)


def _holds(target: Path, size: int, mode: int, sha256: str) -> bool:
    try:
        info = target.lstat()
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(info.st_mode) or info.st_size != size or stat.S_IMODE(info.st_mode) != mode:
        return False
    digest = hashlib.sha256()
    with target.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest() == sha256


def _sweep(run: _Run) -> None:
    """Remove what the layers do not hold: the previous environment's files, a killed run's temp files."""
    keep = run.written | {prefix_state.STATE_DIR, f"{prefix_state.STATE_DIR}/{LOCK_NAME}", STAMP_PATH}
    for folder, dirs, files in os.walk(run.prefix, topdown=False):
        rel_dir = os.path.relpath(folder, run.prefix)
        for name in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            rel = name if rel_dir == "." else f"{Path(rel_dir).as_posix()}/{name}"
            if rel not in keep:
                os.unlink(os.path.join(folder, name))
        for name in dirs:
            rel = name if rel_dir == "." else f"{Path(rel_dir).as_posix()}/{name}"
            path = os.path.join(folder, name)
            if rel not in keep and not os.path.islink(path):
                shutil.rmtree(path)


def _check_complete(run: _Run) -> None:
    missing = sorted(rel for rel in run.expected if rel not in run.written)
    if missing:
        raise IntegrityError(f"the image lacks {len(missing)} files its own expected state lists (e.g. {missing[0]})")


def _write_new(path: Path, data: bytes, mode: int) -> None:
    temp = path.with_name(path.name + _TEMP_SUFFIX)
    _remove(temp)
    with open(temp, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.chmod(temp, mode)
    os.replace(temp, path)


def read_state(layer: Layer) -> dict[str, bytes]:
    """The ``.materialize/`` files a layer holds (the image's own expected state and stamp), by
    file name; the layer's tar must hash to its ``diff_id``."""
    found: dict[str, bytes] = {}

    def keep(tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        name = member.name[2:] if member.name.startswith("./") else member.name
        if member.isreg() and name.startswith(prefix_state.STATE_DIR + "/") and name.count("/") == 1:
            source = tar.extractfile(member)
            if source is not None:
                found[name.split("/", 1)[1]] = source.read()

    _each_member(layer, keep)
    return found

"""Write `.conda` package archives for the hermetic test channel.

A `.conda` file is a stored (uncompressed) zip holding `metadata.json`, `info-<stem>.tar.zst`
(the `info/` directory: index.json, paths.json, files, has_prefix, about.json, link.json) and
`pkg-<stem>.tar.zst` (the payload). Output is deterministic: sorted members, mtime 0, uid/gid 0,
a fixed zip date and a fixed zstd level, so equal inputs give byte-identical archives.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import zstandard

# conda-build style placeholder, long enough to be unambiguous. Only ever used in text mode.
PREFIX_PLACEHOLDER = "/opt/materialize_test_prefix" + "_placehold" * 8
FIXED_TIMESTAMP_MS = 1_700_000_000_000  # index.json "timestamp" (ms since epoch), constant
ZSTD_LEVEL = 3
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_ARCHES = {"64": "x86_64", "32": "x86"}


@dataclass(frozen=True)
class CondaPackage:
    name: str
    version: str
    build: str = "0"
    build_number: int = 0
    depends: tuple[str, ...] = ()
    subdir: str = "noarch"
    noarch: str | None = "generic"
    files: Mapping[str, bytes] = field(default_factory=dict)
    text_prefix_files: tuple[str, ...] = ()
    symlinks: Mapping[str, str] = field(default_factory=dict)
    extra_index: Mapping[str, object] = field(default_factory=dict)
    entry_points: tuple[str, ...] = ()  # noarch: python only, e.g. "pip = pip._internal.cli.main:main"

    @property
    def stem(self) -> str:
        return f"{self.name}-{self.version}-{self.build}"

    @property
    def filename(self) -> str:
        return f"{self.stem}.conda"


@dataclass(frozen=True)
class PayloadFile:
    """One member of the pkg tarball: in-memory `data`, an on-disk `source`, or a symlink."""

    path: str
    data: bytes | None = None
    source: Path | None = None
    link_target: str | None = None
    mode: int = 0o644
    prefix_placeholder: str | None = None  # recorded as a text-mode prefix file when set

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.source is not None, self.path
        return self.source.read_bytes()


def _is_executable(path: str, data: bytes) -> bool:
    return data.startswith(b"#!") or path.startswith("bin/")


def payload_of(pkg: CondaPackage) -> list[PayloadFile]:
    """The payload a `CondaPackage` describes (files, text prefix files, symlinks)."""
    unknown = set(pkg.text_prefix_files) - set(pkg.files)
    if unknown:
        raise ValueError(f"text_prefix_files not in files: {sorted(unknown)}")
    payload = [
        PayloadFile(
            path=path,
            data=data,
            mode=0o755 if _is_executable(path, data) else 0o644,
            prefix_placeholder=PREFIX_PLACEHOLDER if path in pkg.text_prefix_files else None,
        )
        for path, data in pkg.files.items()
    ]
    payload += [PayloadFile(path=p, link_target=t) for p, t in pkg.symlinks.items()]
    return payload


def write_conda(pkg: CondaPackage, channel_dir: Path) -> Path:
    """Write `channel_dir/<subdir>/<name>-<version>-<build>.conda`; return its path."""
    return write_conda_payload(pkg, payload_of(pkg), channel_dir)


def write_conda_payload(
    pkg: CondaPackage, payload: Sequence[PayloadFile], channel_dir: Path
) -> Path:
    """Write a `.conda` whose metadata comes from `pkg` and whose files are `payload`."""
    out_dir = Path(channel_dir) / pkg.subdir
    out_dir.mkdir(parents=True, exist_ok=True)
    pkg_zst, paths = _pkg_tar_zst(payload)
    info_zst = _tar_zst(sorted(_info_members(pkg, paths).items()))
    target = out_dir / pkg.filename
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=f".{pkg.stem}.", suffix=".tmp")
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
            meta = json.dumps({"conda_pkg_format_version": 2}).encode()
            for arcname, data in (
                ("metadata.json", meta),
                (f"info-{pkg.stem}.tar.zst", info_zst),
                (f"pkg-{pkg.stem}.tar.zst", pkg_zst),
            ):
                info = zipfile.ZipInfo(arcname, date_time=_ZIP_DATE)
                info.external_attr = 0o644 << 16
                zf.writestr(info, data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _tarinfo(name: str, size: int = 0, mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, mode, 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _zstd_writer(buf: io.BytesIO):
    return zstandard.ZstdCompressor(level=ZSTD_LEVEL).stream_writer(buf, closefd=False)


def _pkg_tar_zst(payload: Sequence[PayloadFile]) -> tuple[bytes, list[dict]]:
    """Compress the payload as a tar.zst; return it with the paths.json entries."""
    buf = io.BytesIO()
    paths: list[dict] = []
    seen: set[str] = set()
    with _zstd_writer(buf) as zw:
        with tarfile.open(fileobj=zw, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for item in sorted(payload, key=lambda p: p.path):
                if item.path in seen or item.path.startswith("info/"):
                    raise ValueError(f"bad or duplicate payload path: {item.path}")
                seen.add(item.path)
                paths.append(_add_payload_member(tar, item))
    return buf.getvalue(), paths


def _add_payload_member(tar: tarfile.TarFile, item: PayloadFile) -> dict:
    if item.link_target is not None:
        info = _tarinfo(item.path, mode=0o777)
        info.type, info.linkname = tarfile.SYMTYPE, item.link_target
        tar.addfile(info)
        return {"_path": item.path, "path_type": "softlink"}
    data = item.read()
    tar.addfile(_tarinfo(item.path, len(data), item.mode), io.BytesIO(data))
    entry: dict = {
        "_path": item.path,
        "path_type": "hardlink",
        "sha256": hashlib.sha256(data).hexdigest(),
        "size_in_bytes": len(data),
    }
    if item.prefix_placeholder is not None:
        entry["file_mode"] = "text"
        entry["prefix_placeholder"] = item.prefix_placeholder
    return entry


def _tar_zst(members: Iterable[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with _zstd_writer(buf) as zw:
        with tarfile.open(fileobj=zw, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for name, data in members:
                tar.addfile(_tarinfo(name, len(data)), io.BytesIO(data))
    return buf.getvalue()


def _json(obj: object) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()


def index_json(pkg: CondaPackage) -> dict:
    """The info/index.json content of `pkg`."""
    index: dict = {
        "name": pkg.name,
        "version": pkg.version,
        "build": pkg.build,
        "build_number": pkg.build_number,
        "depends": list(pkg.depends),
        "subdir": pkg.subdir,
        "license": "MIT",
        "timestamp": FIXED_TIMESTAMP_MS,
    }
    if pkg.noarch:
        index["noarch"] = pkg.noarch
    elif pkg.subdir != "noarch":
        platform, _, arch = pkg.subdir.partition("-")
        index["platform"], index["arch"] = platform, _ARCHES.get(arch, arch)
    index.update(pkg.extra_index)
    return index


def _info_members(pkg: CondaPackage, paths: list[dict]) -> dict[str, bytes]:
    members = {
        "info/index.json": _json(index_json(pkg)),
        "info/paths.json": _json({"paths": paths, "paths_version": 1}),
        "info/files": "".join(p["_path"] + "\n" for p in paths).encode(),
        "info/about.json": _json({"license": "MIT", "summary": f"{pkg.name} (materialize test world)"}),
    }
    prefixed = [p for p in paths if "prefix_placeholder" in p]
    if prefixed:
        members["info/has_prefix"] = "".join(
            f'"{p["prefix_placeholder"]}" text "{p["_path"]}"\n' for p in prefixed
        ).encode()
    if pkg.noarch == "python":
        noarch: dict = {"type": "python"}
        if pkg.entry_points:
            noarch["entry_points"] = list(pkg.entry_points)
        members["info/link.json"] = _json({"noarch": noarch, "package_metadata_version": 1})
    return members


def package_fingerprint(pkg: CondaPackage) -> str:
    """A stable digest of everything that defines `pkg` (for channel cache keys)."""
    desc = {
        "index": index_json(pkg),
        "files": {p: hashlib.sha256(d).hexdigest() for p, d in sorted(pkg.files.items())},
        "text_prefix_files": sorted(pkg.text_prefix_files),
        "symlinks": dict(sorted(pkg.symlinks.items())),
        "entry_points": list(pkg.entry_points),
    }
    return hashlib.sha256(json.dumps(desc, sort_keys=True).encode()).hexdigest()


# --- noarch: python distributions ---------------------------------------------------------


def normalize_dist_name(name: str) -> str:
    """The dist-info directory spelling of a project name (PyPA binary distribution format)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}\n"


def dist_info_files(name: str, version: str, modules: Mapping[str, bytes]) -> dict[str, bytes]:
    """`modules` (paths relative to site-packages) plus a dist-info with METADATA/INSTALLER/RECORD."""
    dist_info = f"{normalize_dist_name(name)}-{version}.dist-info"
    files = dict(modules)
    files[f"{dist_info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        f"Summary: {name} (materialize test world)\n"
    ).encode()
    files[f"{dist_info}/INSTALLER"] = b"conda\n"
    record = "".join(record_line(p, d) for p, d in sorted(files.items()))
    files[f"{dist_info}/RECORD"] = (record + f"{dist_info}/RECORD,,\n").encode()
    return files


def python_dist_package(
    name: str,
    version: str,
    *,
    import_name: str | None = None,
    depends: Iterable[str] = (),
    module_source: str | None = None,
    build: str = "py_0",
) -> CondaPackage:
    """A noarch: python package providing distribution `name` importable as `import_name`."""
    import_name = import_name or normalize_dist_name(name)
    if module_source is None:
        module_source = f"VALUE = {name + ' ' + version!r}\n__version__ = {version!r}\n"
    deps = tuple(depends)
    if not any(re.split(r"[\s=<>!~]", d, maxsplit=1)[0] == "python" for d in deps):
        deps = ("python",) + deps
    modules = {f"{import_name}/__init__.py": module_source.encode()}
    files = dist_info_files(name, version, modules)
    return CondaPackage(
        name=name,
        version=version,
        build=build,
        depends=deps,
        noarch="python",
        files={f"site-packages/{p}": d for p, d in files.items()},
    )

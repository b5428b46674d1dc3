"""Build tiny, deterministic Python distributions for the hermetic PyPI world.

Pure stdlib: wheels are written with zipfile and sdists with tarfile, so no
build backend and no network is needed.  The same bytes come out on every run
(fixed timestamps, sorted entries), so a test may pin a sha256.

`setuptools_wheels()` finds setuptools/wheel wheels already on disk so that a
local index can serve a build backend for `.` projects, sdists and git repos.
"""

from __future__ import annotations

import base64
import csv
import gzip
import hashlib
import io
import re
import sys
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Mapping, Sequence

ZIP_DATE = (1980, 1, 1, 0, 0, 0)
TAR_MTIME = 315532800  # 1980-01-01, the zip epoch
SETUPTOOLS_BACKEND = "setuptools.build_meta"


@dataclass(frozen=True)
class Dist:
    """One fake distribution; see `standard_dists()` for the ones tests rely on."""

    name: str
    version: str
    requires: tuple[str, ...] = ()
    requires_python: str | None = None
    import_name: str | None = None
    module_source: str | None = None
    python_tag: str = "py3"
    abi_tag: str = "none"
    platform_tag: str = "any"
    console_scripts: Mapping[str, str] = field(default_factory=dict, hash=False)
    single_module: bool = False  # `six.py` instead of `six/__init__.py`

    @property
    def module(self) -> str:
        return self.import_name or normalize(self.name).replace("-", "_")

    @property
    def source(self) -> str:
        if self.module_source is not None:
            return self.module_source
        return f"__version__ = '{self.version}'\n"

    @property
    def module_path(self) -> str:
        return f"{self.module}.py" if self.single_module else f"{self.module}/__init__.py"

    @property
    def wheel_name(self) -> str:
        tag = f"{self.python_tag}-{self.abi_tag}-{self.platform_tag}"
        return f"{escape(self.name)}-{self.version}-{tag}.whl"

    @property
    def sdist_name(self) -> str:
        return f"{escape(self.name)}-{self.version}.tar.gz"


def normalize(name: str) -> str:
    """PEP 503 normalized project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def escape(name: str) -> str:
    """Project name as it appears in wheel and sdist file names."""
    return normalize(name).replace("-", "_")


def metadata_text(dist: Dist) -> str:
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {dist.name}",
        f"Version: {dist.version}",
        f"Summary: Test distribution {dist.name} {dist.version}",
    ]
    if dist.requires_python:
        lines.append(f"Requires-Python: {dist.requires_python}")
    lines += [f"Requires-Dist: {req}" for req in dist.requires]
    return "\n".join(lines) + "\n\n"


def _wheel_text(dist: Dist) -> str:
    pure = "true" if dist.platform_tag == "any" else "false"
    lines = ["Wheel-Version: 1.0", "Generator: materialize-test-world", f"Root-Is-Purelib: {pure}"]
    for py in dist.python_tag.split("."):
        for abi in dist.abi_tag.split("."):
            for plat in dist.platform_tag.split("."):
                lines.append(f"Tag: {py}-{abi}-{plat}")
    return "\n".join(lines) + "\n"


def _entry_points_text(scripts: Mapping[str, str]) -> str:
    body = "".join(f"{name} = {target}\n" for name, target in sorted(scripts.items()))
    return f"[console_scripts]\n{body}\n"


def _record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def wheel_files(dist: Dist) -> dict[str, bytes]:
    """Every member of the wheel except RECORD, keyed by archive path."""
    info = f"{escape(dist.name)}-{dist.version}.dist-info"
    files = {
        dist.module_path: dist.source.encode(),
        f"{info}/METADATA": metadata_text(dist).encode(),
        f"{info}/WHEEL": _wheel_text(dist).encode(),
        f"{info}/top_level.txt": f"{dist.module}\n".encode(),
    }
    if dist.console_scripts:
        files[f"{info}/entry_points.txt"] = _entry_points_text(dist.console_scripts).encode()
    return files


def _zip_write(zf: zipfile.ZipFile, arcname: str, data: bytes) -> None:
    info = zipfile.ZipInfo(arcname, date_time=ZIP_DATE)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # unix, so the mode above is honoured everywhere
    zf.writestr(info, data)


def build_wheel(dist: Dist, out_dir: Path, record_hashes: bool = True) -> Path:
    """Write a PEP 427 wheel for `dist` into `out_dir`; same bytes on every call. Without
    ``record_hashes`` its RECORD lists the files with no digests (as some real wheels do)."""
    files = wheel_files(dist)
    record_path = f"{escape(dist.name)}-{dist.version}.dist-info/RECORD"
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for arcname in sorted(files):
        writer.writerow([arcname, _record_hash(files[arcname]) if record_hashes else "",
                         len(files[arcname]) if record_hashes else ""])
    writer.writerow([record_path, "", ""])
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / dist.wheel_name
    with zipfile.ZipFile(target, "w") as zf:
        for arcname in sorted(files):
            _zip_write(zf, arcname, files[arcname])
        _zip_write(zf, record_path, buf.getvalue().encode())
    return target


def pyproject_text(dist: Dist) -> str:
    """A setuptools-backed pyproject.toml that builds `dist` from source."""
    deps = "".join(f"    {_toml_str(req)},\n" for req in dist.requires)
    lines = [
        "[build-system]",
        'requires = ["setuptools>=61"]',
        f'build-backend = "{SETUPTOOLS_BACKEND}"',
        "",
        "[project]",
        f"name = {_toml_str(dist.name)}",
        f"version = {_toml_str(dist.version)}",
        f"dependencies = [\n{deps}]",
    ]
    if dist.requires_python:
        lines.append(f"requires-python = {_toml_str(dist.requires_python)}")
    if dist.console_scripts:
        lines += ["", "[project.scripts]"]
        lines += [f"{k} = {_toml_str(v)}" for k, v in sorted(dist.console_scripts.items())]
    key = "py-modules" if dist.single_module else "packages"
    lines += ["", "[tool.setuptools]", f"{key} = [{_toml_str(dist.module)}]"]
    return "\n".join(lines) + "\n"


def setup_py_text(dist: Dist) -> str:
    """A legacy setup.py (no pyproject.toml) that builds `dist` from source."""
    key = "py_modules" if dist.single_module else "packages"
    args = [
        f"name={dist.name!r}",
        f"version={dist.version!r}",
        f"{key}=[{dist.module!r}]",
        f"install_requires={list(dist.requires)!r}",
    ]
    if dist.requires_python:
        args.append(f"python_requires={dist.requires_python!r}")
    if dist.console_scripts:
        scripts = [f"{k} = {v}" for k, v in sorted(dist.console_scripts.items())]
        args.append(f"entry_points={{'console_scripts': {scripts!r}}}")
    body = "".join(f"    {arg},\n" for arg in args)
    return f"from setuptools import setup\n\nsetup(\n{body})\n"


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def source_tree(dist: Dist, kind: Literal["setup.py", "pyproject"] = "pyproject") -> dict[str, bytes]:
    """Relative path -> content of a buildable source project for `dist`."""
    files = {dist.module_path: dist.source.encode()}
    if kind == "pyproject":
        files["pyproject.toml"] = pyproject_text(dist).encode()
    elif kind == "setup.py":
        files["setup.py"] = setup_py_text(dist).encode()
    else:
        raise ValueError(f"unknown project kind {kind!r}")
    return files


def build_sdist(dist: Dist, out_dir: Path, *, setup_py: str | None = None) -> Path:
    """Write a deterministic `.tar.gz` sdist (setuptools backend) into `out_dir`.

    With `setup_py`, the sdist holds that `setup.py` instead of a pyproject.toml, and its PKG-INFO
    names no requirements: only running the build backend tells them (see `python_dependent_setup_py`).
    Building it needs setuptools from the index: upload `setuptools_wheels()` too.
    """
    root = f"{escape(dist.name)}-{dist.version}"
    if setup_py is None:
        files = source_tree(dist, "pyproject")
        files["PKG-INFO"] = metadata_text(dist).encode()
    else:
        files = {dist.module_path: dist.source.encode(), "setup.py": setup_py.encode(),
                 "PKG-INFO": metadata_text(Dist(dist.name, dist.version)).encode()}
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / dist.sdist_name
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel in sorted(files):
            info = tarfile.TarInfo(f"{root}/{rel}")
            info.size, info.mtime, info.mode = len(files[rel]), TAR_MTIME, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(files[rel]))
    with open(target, "wb") as fh, gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0) as gz:
        gz.write(raw.getvalue())
    return target


def python_dependent_setup_py(dist: Dist, minor: tuple[int, int], on_minor: str, otherwise: str) -> str:
    """A setup.py for `dist` that requires `on_minor` when run by Python `minor`, else `otherwise`:
    the requirements depend on the interpreter that builds the metadata, as real ones sometimes do."""
    key = "py_modules" if dist.single_module else "packages"
    return (
        "import sys\n\nfrom setuptools import setup\n\n"
        f"requirement = {on_minor!r} if sys.version_info[:2] == {tuple(minor)!r} else {otherwise!r}\n"
        f"setup(name={dist.name!r}, version={dist.version!r}, {key}=[{dist.module!r}], "
        "install_requires=[requirement])\n"
    )


def write_project(
    dir: Path,
    name: str,
    version: str,
    *,
    kind: Literal["setup.py", "pyproject"],
    requires: Sequence[str] = (),
) -> Path:
    """Write a source project into `dir` itself (the `.` of a requirements.txt).

    Building it offline needs setuptools from the index: upload `setuptools_wheels()`.
    """
    dist = Dist(name, version, requires=tuple(requires))
    dir.mkdir(parents=True, exist_ok=True)
    for rel, data in source_tree(dist, kind).items():
        path = dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return dir


_SIX_SOURCE = '''"""Fake six {version}: just enough of the real module's shape for tests."""
import sys

__author__ = "materialize test world"
__version__ = "{version}"

PY2 = sys.version_info[0] == 2
PY3 = sys.version_info[0] == 3
string_types = (str,)
integer_types = (int,)
text_type = str
binary_type = bytes


def ensure_str(s, encoding="utf-8", errors="strict"):
    return s.decode(encoding, errors) if isinstance(s, bytes) else s
'''


def _six(version: str) -> Dist:
    return Dist(
        "six",
        version,
        requires_python=">=2.7, !=3.0.*, !=3.1.*, !=3.2.*",
        module_source=_SIX_SOURCE.format(version=version),
        python_tag="py2.py3",
        single_module=True,
    )


def standard_dists() -> list[Dist]:
    """The fixed public set tests rely on (privpkg belongs on the private index only)."""
    return [
        Dist("tinydep", "1.0"),
        Dist("tinydep", "2.0"),
        Dist("tinyweb", "1.0", requires=("tinydep>=2",), console_scripts={"tinyweb": "tinyweb:main"},
             module_source="__version__ = '1.0'\n\n\ndef main():\n    print('tinyweb 1.0')\n"),
        _six("1.16.0"),
        _six("1.17.0"),
        Dist("pyonly", "1.0", requires_python=">=3.12"),
        Dist("onlyold", "1.0", requires_python="<3.12"),
        Dist("coreserver", "1.0", requires=("coreserial",)),
        Dist("coreserver", "1.1", requires=("coreserial",)),
        Dist("coreserial", "1.0"),
        Dist("privpkg", "1.0"),
    ]


def public_dists() -> list[Dist]:
    return [d for d in standard_dists() if d.name != "privpkg"]


def private_dists() -> list[Dist]:
    return [d for d in standard_dists() if d.name == "privpkg"]


def build_all(dists: Sequence[Dist], out_dir: Path) -> list[Path]:
    return [build_wheel(d, out_dir) for d in dists]


def setuptools_wheels() -> list[Path]:
    """setuptools and wheel wheels already on this machine, newest compatible set.

    Source, in order: the wheels virtualenv embeds (virtualenv is a dependency of
    conda-lock, so it is in the project venv: setuptools 82.0.0 for Python >= 3.9,
    75.3.4 for 3.8, wheel 0.45.1), then the running interpreter's
    `ensurepip/_bundled/` (setuptools 65.5.0 on 3.11; Python >= 3.12 bundles none).
    All found versions are returned, so the index can serve older Pythons too.
    """
    found: dict[str, Path] = {}
    for folder in _wheel_folders():
        for path in sorted(folder.glob("*.whl")):
            if path.name.startswith(("setuptools-", "wheel-")):
                found.setdefault(path.name, path)
    if not any(name.startswith("setuptools-") for name in found):
        raise FileNotFoundError("no setuptools wheel on disk (virtualenv embed or ensurepip)")
    return [found[name] for name in sorted(found)]


def _wheel_folders() -> list[Path]:
    folders = []
    try:
        from virtualenv.seed.wheels import embed  # noqa: PLC0415 (optional)

        folders.append(Path(embed.__file__).parent)
    except ImportError:
        pass
    try:
        import ensurepip  # noqa: PLC0415

        folders.append(Path(ensurepip.__file__).parent / "_bundled")
    except ImportError:
        pass
    folders.append(Path(sys.base_prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
                   / "ensurepip" / "_bundled")
    return [f for f in folders if f.is_dir()]

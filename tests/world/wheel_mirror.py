"""Real PyPI wheels, downloaded once, repackaged as conda packages and indexed as a local channel.

Shared by the benchmark's workload (``scripts/benchlib/workload.py``) and the demo's mirror
(``scripts/demolib/mirror.py``):

* ``download`` fetches pinned wheels with ``pip download`` into a folder, once;
* ``conda_package_from_wheel`` turns a wheel into a conda package holding the wheel's own files:
  a pure wheel becomes ``noarch: python`` (files under ``site-packages/``, console scripts as
  ``link.json`` entry points), a binary wheel becomes a package of the host subdir pinned to the
  wheel's Python (files under ``lib/pythonX.Y/site-packages/``, console scripts written to ``bin/``),
  as conda-build would lay them out;
* ``build_channel`` writes those packages plus a relocatable ``python`` package made from an
  interpreter tree on this machine (``interpreters.py``), indexes them, and keeps the result under
  a key of everything that went in.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Sequence

from . import conda_channel, conda_packages, interpreters

FORMAT_VERSION = 2  # bump when the conversion below changes: every channel built from it is rebuilt
BINARY_BUILD = "h_mirror_0"  # after "py311"
PURE_BUILD = "pyh_mirror_0"
Log = Callable[[str], None]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def wheel_key(path: Path) -> tuple[str, str]:
    """(canonical name, version) from a wheel's file name."""
    from packaging.utils import parse_wheel_filename

    name, version, _, _ = parse_wheel_filename(path.name)
    return canonical(str(name)), str(version)


def is_pure(wheel: Path) -> bool:
    from packaging.utils import parse_wheel_filename

    return all(tag.platform == "any" for tag in parse_wheel_filename(wheel.name)[3])


def pure_tags() -> list[str]:
    return ["--implementation", "py", "--abi", "none", "--platform", "any"]


def binary_tags(python_minor: str, machine: str = "x86_64") -> list[str]:
    """``pip download`` tag options for CPython ``python_minor`` manylinux wheels (pure ones too)."""
    abi = "cp" + python_minor.replace(".", "")
    platforms = [f"manylinux_2_28_{machine}", f"manylinux_2_17_{machine}", f"manylinux2014_{machine}", "any"]
    return ["--implementation", "cp", "--abi", abi, "--abi", "abi3", "--abi", "none",
            *[arg for plat in platforms for arg in ("--platform", plat)]]


def download(pins: Sequence[str], folder: Path, tags: Sequence[str], python_minor: str, log: Log) -> list[Path]:
    """``pip download`` the pinned wheels that are not in ``folder`` yet (one call); return all of them."""
    folder.mkdir(parents=True, exist_ok=True)
    have = {wheel_key(p): p for p in folder.glob("*.whl")}
    wanted = [(canonical(p.split("==")[0]), p.split("==")[1]) for p in pins]
    missing = [f"{n}=={v}" for n, v in wanted if (n, v) not in have]
    if missing:
        log(f"downloading {len(missing)} wheels from PyPI into {folder} (once) ...")
        argv = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--only-binary=:all:",
                "--no-deps", "--python-version", python_minor, *tags, "-d", str(folder), *missing]
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"pip download failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        have = {wheel_key(p): p for p in folder.glob("*.whl")}
    lost = [f"{n}=={v}" for n, v in wanted if (n, v) not in have]
    if lost:
        raise SystemExit(f"not downloaded: {lost}")
    return [have[w] for w in wanted]


# --- wheel -> conda package -------------------------------------------------------------------


def requires(metadata: str, inside: set[str], python_minor: str) -> list[str]:
    """Unconditional Requires-Dist names that are themselves in the conda set (no version bounds)."""
    from packaging.requirements import InvalidRequirement, Requirement

    env = {"python_version": python_minor, "python_full_version": python_minor + ".0",
           "sys_platform": "linux", "platform_system": "Linux", "extra": ""}
    found = []
    for line in metadata.splitlines():
        if not line.startswith("Requires-Dist:"):
            continue
        try:
            req = Requirement(line.split(":", 1)[1].strip())
        except InvalidRequirement:
            continue
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        name = canonical(req.name)
        if name in inside and name not in found:
            found.append(name)
    return sorted(found)


def console_scripts(text: str) -> tuple[str, ...]:
    """``name = module:function`` lines of an entry_points.txt's [console_scripts] section."""
    scripts, section = [], None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("["):
            section = line.strip("[]").strip()
        elif section == "console_scripts" and "=" in line:
            name, _, target = line.partition("=")
            target = target.split("[")[0].strip()  # drop extras
            scripts.append(f"{name.strip()} = {target}")
    return tuple(scripts)


def _script(entry_point: str) -> tuple[str, bytes]:
    """``bin/<name>`` for a console script of a binary package (noarch packages get link.json instead)."""
    name, _, target = entry_point.partition(" = ")
    module, _, function = target.partition(":")
    text = (f"#!{conda_packages.PREFIX_PLACEHOLDER}/bin/python\nimport sys\n"
            f"from {module} import {function.split('.')[0]}\n"
            f"if __name__ == '__main__':\n    sys.exit({function}())\n")
    return f"bin/{name}", text.encode()


def _target(parts: list[str], site: str, scripts: str) -> str | None:
    """Where a wheel member goes in the package (``.data/`` mapped as conda-build would), or None."""
    if not parts[0].endswith(".data"):
        return f"{site}/{'/'.join(parts)}"
    kind, rest = parts[1], "/".join(parts[2:])
    return {"purelib": f"{site}/{rest}", "platlib": f"{site}/{rest}", "scripts": f"{scripts}/{rest}",
            "data": rest}.get(kind)


def conda_package_from_wheel(wheel: Path, inside: set[str], python_minor: str,
                             subdir: str | None = None) -> conda_packages.CondaPackage:
    """The wheel's own files as a conda package (see the module docs for the layout)."""
    name, version = wheel_key(wheel)
    pure = is_pure(wheel)
    site = "site-packages" if pure else f"lib/python{python_minor}/site-packages"
    files: dict[str, bytes] = {}
    text_prefix: list[str] = []
    depends: list[str] = []
    entry_points: tuple[str, ...] = ()
    scripts = "python-scripts" if pure else "bin"
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            parts = info.filename.split("/")
            target = None if info.is_dir() else _target(parts, site, scripts)
            if target is None:
                continue
            data = zf.read(info)
            if target.startswith(f"{scripts}/") and data.startswith(b"#!python"):
                data = f"#!{conda_packages.PREFIX_PLACEHOLDER}/bin/python".encode() + data[len(b"#!python"):]
                text_prefix.append(target)
            if len(parts) == 2 and parts[0].endswith(".dist-info"):
                if parts[1] == "METADATA":
                    depends = requires(data.decode("utf-8", "replace"), inside - {name}, python_minor)
                elif parts[1] == "entry_points.txt":
                    entry_points = console_scripts(data.decode("utf-8", "replace"))
                elif parts[1] == "RECORD":
                    files[f"{site}/{parts[0]}/INSTALLER"] = b"conda\n"
            files[target] = data
    if pure:
        return conda_packages.CondaPackage(
            name=name, version=version, build=PURE_BUILD, depends=("python >=3.8", *depends), noarch="python",
            files=files, text_prefix_files=tuple(text_prefix), entry_points=entry_points)
    for path, data in map(_script, entry_points):
        files[path] = data
        text_prefix.append(path)
    return conda_packages.CondaPackage(
        name=name, version=version, build=f"py{python_minor.replace('.', '')}{BINARY_BUILD}",
        depends=(f"python {python_minor}.*", *depends), subdir=subdir or conda_channel.host_subdir(), noarch=None,
        files=files, text_prefix_files=tuple(text_prefix))


def write_from_wheel(wheel: Path, inside: set[str], channel: Path, python_minor: str) -> Path:
    return conda_packages.write_conda(conda_package_from_wheel(wheel, inside, python_minor), channel)


# --- the channel ------------------------------------------------------------------------------


def channel_key(wheels: Sequence[Path], interp: interpreters.Interpreter, salt: str = "") -> str:
    """sha256 over the builder's sources, the interpreter tree and the wheels (names and sizes)."""
    digest = hashlib.sha256(f"v{FORMAT_VERSION}\0{salt}\0{interp.version}\0{interp.prefix}\0".encode())
    for source in (Path(__file__), Path(conda_packages.__file__), Path(interpreters.__file__)):
        digest.update(source.read_bytes())
    for wheel in wheels:
        digest.update(f"{wheel.name}\0{wheel.stat().st_size}\0".encode())
    return digest.hexdigest()[:24]


def build_channel(channels: Path, wheels: Sequence[Path], interp: interpreters.Interpreter, log: Log,
                  salt: str = "") -> Path:
    """``channels/<key>/``: every wheel as a conda package plus ``python`` from ``interp``, indexed.

    Built in a temporary folder and renamed into place, only when no channel has that key yet."""
    final = channels / channel_key(wheels, interp, salt)
    if (final / "noarch" / "repodata.json").is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in final.parent.glob(".building-*"):
        shutil.rmtree(stale, ignore_errors=True)
    log(f"building the conda channel: {len(wheels)} packages from wheels + python {interp.version} (once) ...")
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=".building-"))
    inside = {wheel_key(w)[0] for w in wheels}
    try:
        subdir = conda_channel.host_subdir()
        with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
            jobs = [pool.submit(interpreters.write_python_package, interp, tmp, subdir)]
            jobs += [pool.submit(write_from_wheel, w, inside, tmp, interp.minor) for w in wheels]
            for job in jobs:
                job.result()
        conda_channel.index_channel(tmp, {"noarch", subdir})
        os.chmod(tmp, 0o755)
        if final.exists():
            shutil.rmtree(final)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def link_index(index: Path, wheels: Sequence[Path]) -> Path:
    """``index/``: hard links to exactly these wheels (pypiserver serves one folder)."""
    index.mkdir(parents=True, exist_ok=True)
    wanted = {w.name: w for w in wheels}
    for stale in index.iterdir():
        if stale.name not in wanted:
            stale.unlink()
    for name, wheel in wanted.items():
        target = index / name
        if not target.exists():
            try:
                os.link(wheel, target)
            except OSError:
                shutil.copy2(wheel, target)
    return index

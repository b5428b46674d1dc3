"""Build, index, cache and serve the hermetic conda channel used by the tests."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable

from . import static_http
from .conda_packages import (
    PREFIX_PLACEHOLDER,
    CondaPackage,
    package_fingerprint,
    python_dist_package,
    write_conda,
)
from .interpreters import (
    PYTHON_BUILD,
    Interpreter,
    write_metadata_only_python,
    write_python_package,
)

WORLD_DIR = Path(__file__).resolve().parent
WORLD_SOURCES = ("conda_packages.py", "interpreters.py", "conda_channel.py")
BASE_SUBDIRS = ("noarch", "linux-64")
_STALE_BUILD_SECONDS = 3600
_MACHINES = {"x86_64": "64", "amd64": "64", "aarch64": "aarch64", "arm64": "arm64"}


def host_subdir() -> str:
    """The conda subdir of this machine, e.g. "linux-64"."""
    system = {"darwin": "osx", "windows": "win"}.get(sys.platform, "linux")
    machine = platform.machine().lower()
    return f"{system}-{_MACHINES.get(machine, machine)}"


def _run_coroutine(coro) -> None:
    """asyncio.run, also from inside a running event loop (on a helper thread)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coro)
        return
    errors: list[BaseException] = []

    def runner() -> None:
        try:
            asyncio.run(coro)
        except BaseException as err:  # re-raised on the calling thread
            errors.append(err)

    thread = threading.Thread(target=runner)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def _empty_repodata(subdir: str) -> dict:
    return {"info": {"subdir": subdir}, "packages": {}, "packages.conda": {},
            "removed": [], "repodata_version": 1}


def index_channel(channel_dir: Path, subdirs: Iterable[str] = BASE_SUBDIRS) -> None:
    """Index with rattler, then give every subdir in `subdirs` a repodata.json (empty if need be)."""
    from rattler.index import index_fs

    channel_dir, subdirs = Path(channel_dir), set(subdirs)
    for subdir in subdirs:
        (channel_dir / subdir).mkdir(parents=True, exist_ok=True)
    _run_coroutine(index_fs(channel_dir, write_zst=False, write_shards=False, force=True))
    time.sleep(0.05)  # rattler's exit crash (docs/engines.md): let rattler's runtime settle after asyncio.run
    try:
        (channel_dir / ".tmp").rmdir()
    except OSError:
        pass
    for subdir in sorted(subdirs):
        repodata = channel_dir / subdir / "repodata.json"
        if not repodata.exists():
            repodata.write_text(json.dumps(_empty_repodata(subdir), indent=2, sort_keys=True))


def build_channel(
    channel_dir: Path,
    packages: Iterable[CondaPackage],
    interpreters: Iterable[Interpreter] = (),
    foreign_pythons: Iterable[tuple[str, str]] = (),
) -> Path:
    """Write all packages (+ a python per interpreter, + metadata-only pythons), then index."""
    channel_dir = Path(channel_dir)
    packages, interpreters = list(packages), list(interpreters)
    foreign_pythons = [tuple(f) for f in foreign_pythons]
    subdir = host_subdir()
    names = [(p.subdir, p.filename) for p in packages]
    names += [(subdir, f"python-{i.version}-{PYTHON_BUILD}.conda") for i in interpreters]
    names += [(s, f"python-{v}-{PYTHON_BUILD}.conda") for v, s in foreign_pythons]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"duplicate packages in channel: {duplicates}")
    channel_dir.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=max(2, min(4, os.cpu_count() or 1))) as pool:
        futures = [pool.submit(write_python_package, i, channel_dir, subdir) for i in interpreters]
        futures += [pool.submit(write_conda, p, channel_dir) for p in packages]
        futures += [pool.submit(write_metadata_only_python, v, s, channel_dir) for v, s in foreign_pythons]
        for future in futures:
            future.result()
    index_channel(channel_dir, {*BASE_SUBDIRS, subdir, *(s for s, _ in names)})
    return channel_dir


# --- the standard package set ---------------------------------------------------------------


def _leaf(version: str) -> CondaPackage:
    return CondaPackage("tinyleaf", version, files={"share/tinyleaf/VERSION": f"{version}\n".encode()})


def tinyapp_script() -> bytes:
    return (
        "#!/bin/sh\n"
        f'# installed at {PREFIX_PLACEHOLDER}\n'
        f'echo "tinyapp prefix={PREFIX_PLACEHOLDER}"\n'
        f'cat "{PREFIX_PLACEHOLDER}/share/tinyleaf/VERSION"\n'
    ).encode()


def pip_package(base_prefix: Path | None = None) -> CondaPackage:
    """noarch: python `pip` unpacked from the wheel bundled with the running interpreter."""
    base = Path(base_prefix or sys.base_prefix)
    minor = f"{sys.version_info[0]}.{sys.version_info[1]}"
    wheels = sorted((base / "lib" / f"python{minor}" / "ensurepip" / "_bundled").glob("pip-*.whl"))
    if not wheels:
        raise FileNotFoundError(f"no bundled pip wheel under {base}/lib/python{minor}/ensurepip")
    wheel = wheels[-1]
    version = wheel.name.split("-")[1]
    files: dict[str, bytes] = {}
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            if not info.is_dir():
                files[f"site-packages/{info.filename}"] = zf.read(info)
    files[f"site-packages/pip-{version}.dist-info/INSTALLER"] = b"conda\n"
    main = "pip._internal.cli.main:main"
    return CondaPackage(
        "pip", version, build="py_0", depends=("python",), noarch="python", files=files,
        entry_points=(f"pip = {main}", f"pip3 = {main}"),
    )


def standard_test_packages() -> list[CondaPackage]:
    """The fixed package set the tests rely on (see the module docs of the test world)."""
    return [
        _leaf("0.5"),  # lets "tinyconflict" solve on its own (needs tinyleaf <1)
        _leaf("1.0"),
        _leaf("2.0"),
        CondaPackage("tinyapp", "1.0", depends=("tinyleaf >=2",),
                     files={"bin/tinyapp": tinyapp_script()}, text_prefix_files=("bin/tinyapp",)),
        CondaPackage("tinyconflict", "1.0", depends=("tinyleaf <1",),
                     files={"share/tinyconflict/README": b"needs tinyleaf <1\n"}),
        python_dist_package("condapy", "1.0"),
        python_dist_package("six", "1.16.0", import_name="six"),
        pip_package(),
    ]


# --- serving and caching --------------------------------------------------------------------


class ChannelServer:
    """Serve `directory` over HTTP on 127.0.0.1 (free port) from a background thread.

    With ``ranges=True`` it honours ``Range`` requests as nginx does; without, it answers every
    request with the whole file, as some servers do. ``served`` lists (path, status, bytes sent)."""

    def __init__(self, directory: Path, *, ranges: bool = False) -> None:
        self.directory = Path(directory)
        self.ranges = ranges
        self._server: static_http.CountingServer | None = None
        self._thread: threading.Thread | None = None

        self._served: list[tuple[str, int, int]] = []

    @property
    def served(self) -> list[tuple[str, int, int]]:
        """(path, status, body bytes sent) of every file request so far, also after ``stop``."""
        if self._server is None:
            return list(self._served)
        with self._server.served_lock:
            return list(self._server.served)

    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> "ChannelServer":
        kind = static_http.RangeHandler if self.ranges else static_http.QuietHandler
        handler = functools.partial(kind, directory=str(self.directory))
        self._server = static_http.CountingServer(("127.0.0.1", 0), handler)
        self._server.served = self._served = []
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                         name=f"channel-server-{self._server.server_address[1]}")
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self) -> "ChannelServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def channel_key(packages, interpreters, foreign_pythons) -> str:
    """sha256 over this world's sources, the host subdir, interpreters and package specs."""
    digest = hashlib.sha256()
    for name in WORLD_SOURCES:
        digest.update(name.encode() + b"\0" + (WORLD_DIR / name).read_bytes() + b"\0")
    desc = {
        "host": host_subdir(),
        "interpreters": [[i.version, str(i.prefix)] for i in interpreters],
        "packages": [package_fingerprint(p) for p in packages],
        "foreign_pythons": [list(f) for f in foreign_pythons],
    }
    digest.update(json.dumps(desc, sort_keys=True).encode())
    return digest.hexdigest()


def _remove_stale_builds(cache_root: Path) -> None:
    for stale in cache_root.glob(".*-building-*"):
        try:
            if time.time() - stale.stat().st_mtime > _STALE_BUILD_SECONDS:
                shutil.rmtree(stale, ignore_errors=True)
        except OSError:
            pass


def cached_channel(
    cache_root: Path,
    packages: Iterable[CondaPackage],
    interpreters: Iterable[Interpreter] = (),
    foreign_pythons: Iterable[tuple[str, str]] = (),
) -> Path:
    """`cache_root/<key>/`, built (in a temp dir, then renamed into place) only if missing."""
    packages, interpreters = list(packages), list(interpreters)
    foreign_pythons = [tuple(f) for f in foreign_pythons]
    cache_root = Path(cache_root)
    final = cache_root / channel_key(packages, interpreters, foreign_pythons)[:32]
    if final.is_dir():
        return final
    cache_root.mkdir(parents=True, exist_ok=True)
    _remove_stale_builds(cache_root)
    tmp = Path(tempfile.mkdtemp(dir=cache_root, prefix=f".{final.name[:12]}-building-"))
    try:
        build_channel(tmp, packages, interpreters, foreign_pythons)
        os.chmod(tmp, 0o755)
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.is_dir():  # not a lost race with a concurrent builder
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final

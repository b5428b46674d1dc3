"""podman for tests, with the settings that make it run containers on these machines.

Everything lives in a temp folder: ``containers.conf`` (runc, cgroupfs, file events, ulimits that
crun/runc can set here) and ``storage.conf`` (graphroot and runroot inside the folder; the overlay
driver where the kernel allows it there, else vfs, which copies every layer: a pull 3x slower). The base image is made from this machine's own C library (what ``ldd`` lists for the
environment's interpreter), so no image has to be downloaded: the environment brings the rest.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

BASE = "localhost/materialize-test-base:1"


def unavailable() -> str | None:
    for program in ("podman", "runc", "ldd"):
        if shutil.which(program) is None and not Path(f"/usr/sbin/{program}").exists():
            return f"{program} is not installed (apt-get install podman runc; .ci/run installs them in CI)"
    return None


class Podman:
    def __init__(self, folder: Path, auth_file: Path | None = None) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "containers.conf").write_text(
            '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n'
            '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n')
        self.folder = folder
        self.env = {**os.environ, "CONTAINERS_CONF": str(folder / "containers.conf"),
                    "CONTAINERS_STORAGE_CONF": str(folder / "storage.conf"),
                    "PATH": os.environ.get("PATH", "") + ":/usr/sbin:/sbin"}
        if auth_file is not None:
            self.env["REGISTRY_AUTH_FILE"] = str(auth_file)
        for driver in ("overlay", "vfs"):
            (folder / "storage.conf").write_text(f'[storage]\ndriver = "{driver}"\ngraphroot = "{folder / driver}"\n'
                                                 f'runroot = "{folder / "run"}"\n')
            if self("info", "--format", "{{.Store.GraphDriverName}}").returncode == 0:
                break

    def __call__(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(["podman", *args], env=self.env, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def import_base(self, interpreter: Path) -> str:
        """A base image holding the C libraries ``interpreter`` links to, at their host paths."""
        tar_path = self.folder / "base.tar"
        with tarfile.open(tar_path, "w") as tar:
            folder = tarfile.TarInfo("tmp")
            folder.type, folder.mode = tarfile.DIRTYPE, 0o1777
            tar.addfile(folder)
            for library in _system_libraries(interpreter):
                data = library.resolve().read_bytes()
                info = tarfile.TarInfo(str(library).lstrip("/"))
                info.size, info.mode = len(data), 0o755
                tar.addfile(info, io.BytesIO(data))
        done = self("import", str(tar_path), BASE)
        if done.returncode:
            raise RuntimeError(f"podman import failed: {done.stderr}")
        return BASE


def _system_libraries(interpreter: Path) -> list[Path]:
    done = subprocess.run(["ldd", str(interpreter)], capture_output=True, text=True, check=True, timeout=60)
    found = []
    for line in done.stdout.splitlines():
        match = re.search(r"(/\S+) \(0x", line)
        if match and not match.group(1).startswith(str(interpreter.parent.parent)):
            found.append(Path(match.group(1)))
    return found

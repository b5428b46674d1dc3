"""A project folder that one fuzz case at a time changes, and that is put back after each case."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .cases import BASE, DATA, SPECIALS, Case

LOCKFILE = "materialize-lock.yml"
BIG = 9 * 1024 * 1024  # above the 8 MiB input cap


class Sandbox:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.project = root / "project"
        self.home = root / "home"
        self.project.mkdir(parents=True, exist_ok=True)
        self.home.mkdir(exist_ok=True)
        for name in BASE:
            self._restore(name)
        self._restore(LOCKFILE)
        os.mkfifo(self.project / "fifo")
        (self.project / "x.whl").write_bytes(b"")

    def environment(self) -> dict[str, str]:
        """HOME, config and cache inside the sandbox: nothing a case does reaches the user's own."""
        return {"HOME": str(self.home), "XDG_CONFIG_HOME": str(self.home / ".config"),
                "XDG_CACHE_HOME": str(self.home / ".cache"), "MATERIALIZE_CACHE_DIR": str(self.root / "cache")}

    def apply(self, case: Case) -> None:
        for name, content in case.files.items():
            path = self._path(name)
            _remove(path)
            if isinstance(content, str) and content in SPECIALS:
                _special(path, content)
            else:
                path.write_bytes(content if isinstance(content, bytes) else content.encode())

    def argv(self, case: Case) -> list[str]:
        lockfile = str(self._path(LOCKFILE))
        if case.argv[0] == "diff":
            return ["diff", lockfile, lockfile]
        return [*case.argv, str(self.project)]

    def reset(self, case: Case) -> None:
        for name in case.files:
            _remove(self._path(name))
            self._restore(name)

    def _path(self, name: str) -> Path:
        return self.project / name

    def _restore(self, name: str) -> None:
        path = self._path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        if name == LOCKFILE:
            shutil.copy(DATA / "fuzz" / "seed-lock.yml", path)
        elif name in BASE:
            path.write_text(BASE[name])


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file() or path.is_fifo():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def _special(path: Path, kind: str) -> None:
    if kind == "dir":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "devzero":
        path.symlink_to("/dev/zero")
    elif kind == "loop":
        path.symlink_to(path.name)
    elif kind == "dangling":
        path.symlink_to(path.name + ".nowhere")
    elif kind == "big":
        with path.open("wb") as handle:
            handle.truncate(BIG)

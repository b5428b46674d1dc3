"""Small helpers the tests share: running the CLI as a user does, writing project folders."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

BIN = Path(sys.executable).parent
CLI_PATH = BIN / "materialize"


@dataclass
class Cli:
    env: dict[str, str] = field(default_factory=dict)

    def __call__(self, *args: object, cwd: Path | None = None, env: dict[str, str] | None = None,
                 timeout: float = 300) -> subprocess.CompletedProcess:
        merged = {**os.environ, **self.env, **(env or {})}
        argv = [str(CLI_PATH), *map(str, args)]
        return subprocess.run(argv, cwd=cwd, env=merged, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def ok(self, *args: object, **kwargs) -> subprocess.CompletedProcess:
        done = self(*args, **kwargs)
        assert done.returncode == 0, f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
        assert "Traceback" not in done.stderr
        return done

    def fails(self, code: int, *args: object, **kwargs) -> subprocess.CompletedProcess:
        done = self(*args, **kwargs)
        assert done.returncode == code, f"exit {done.returncode} != {code}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
        assert "Traceback" not in done.stderr, done.stderr
        return done


def write_project(root: Path, *, conda: str | None = None, requirements: str | None = None,
                  pip_conf: str | None = None, files: dict[str, str] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in (("conda-packages.txt", conda), ("requirements.txt", requirements), ("pip.conf", pip_conf)):
        if text is not None:
            (root / name).write_text(text)
    for name, text in (files or {}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def pip_conf_for(url: str) -> str:
    return f"[global]\nindex-url = {url}\n"


def run_python(prefix: Path, code: str) -> subprocess.CompletedProcess:
    """Run the environment's own interpreter, with nothing of ours leaking in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    return subprocess.run([str(prefix / "bin" / "python"), "-c", code], capture_output=True, text=True,
                          env=env, timeout=120)


def lock_packages(lockfile: Path, manager: str | None = None, platform: str | None = None) -> dict[str, str]:
    data = yaml.safe_load(lockfile.read_text())
    return {p["name"]: str(p["version"]) for p in data["package"]
            if (manager is None or p["manager"] == manager) and (platform is None or p["platform"] == platform)}

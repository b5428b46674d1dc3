"""One bench project and its run folder: inputs, config, per-tool caches, environments, commands."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from . import runner

HERE = Path(__file__).resolve().parent
RAW_INSTALL = HERE / "raw_install.py"
RAW_LOCK = HERE / "raw_lock.py"
# rattler link settings of materialize/engines/conda.link (copy or reflink, never hardlink; every
# cached extraction validated in full), mirrored by the baseline so that both do the same work.
RAW_LINK, RAW_VALIDATION = "copy", "full"
MATERIALIZE: list[str] = []  # the command that runs materialize (--materialize), else the venv's console script


@dataclass
class World:
    """The run folder of one project: project, config, per-tool caches and prefixes, environments."""

    root: Path
    channel: str
    index: str
    python_minor: str
    conda: list[str]
    requirements: list[str]
    core: list[str]
    channel_folder: Path  # what the channel server serves (for the archives' sizes)
    interpreter: str = ""
    mz_lock_env: dict[str, str] = field(default_factory=dict)
    mz_env: dict[str, str] = field(default_factory=dict)
    raw_env: dict[str, str] = field(default_factory=dict)
    pip_env: dict[str, str] = field(default_factory=dict)

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    @property
    def project(self) -> Path:
        return self.path("project")

    @property
    def lockfile(self) -> Path:
        return self.project / "materialize-lock.yml"

    @property
    def full_lock(self) -> Path:
        return self.path("locks", "full-lock.yml")

    @property
    def conda_lock(self) -> Path:
        return self.path("locks", "conda-only-lock.yml")

    @property
    def hashed(self) -> Path:
        return self.path("locks", "hashed-requirements.txt")

    def setup(self) -> "World":
        self.project.mkdir(parents=True)
        (self.project / "conda-packages.txt").write_text("\n".join(self.conda) + "\n")
        (self.project / "requirements.txt").write_text("\n".join(self.requirements) + "\n")
        (self.project / "pip.conf").write_text(f"[global]\nindex-url = {self.index}\n")
        core = self.path("core.txt")  # raw_lock.py reads it beside the project
        core.write_text("\n".join(self.core) + "\n")
        config = self.path("config", "materialize", "config.toml")
        config.parent.mkdir(parents=True)
        config.write_text(f'python = "{self.python_minor}"\ncore-requirements = "{core}"\n')
        self.path("locks").mkdir()
        self.path("prefixes").mkdir()
        common = {"XDG_CONFIG_HOME": str(self.path("config"))}
        self.mz_lock_env = runner.clean_env({**common, "MATERIALIZE_CACHE_DIR": str(self.path("mz-lock-cache")),
                                             "XDG_CACHE_HOME": str(self.path("mz-lock-xdg"))})
        self.mz_env = runner.clean_env({**common, "MATERIALIZE_CACHE_DIR": str(self.path("mz-cache")),
                                        "XDG_CACHE_HOME": str(self.path("mz-xdg"))})
        self.raw_env = runner.clean_env({**common, "XDG_CACHE_HOME": str(self.path("raw-xdg")),
                                         "UV_CACHE_DIR": str(self.path("raw-cache", "uv"))})
        self.pip_env = runner.clean_env({})
        self.interpreter = interpreter_for(self.python_minor, self.raw_env)
        return self

    def fresh_lock_envs(self, tag: str) -> tuple[dict[str, str], dict[str, str]]:
        """(materialize, raw) environments with empty caches under ``cold-<tag>/``."""
        base = self.path(f"cold-{tag}")
        mz = {**self.mz_lock_env, "MATERIALIZE_CACHE_DIR": str(base / "mz"), "XDG_CACHE_HOME": str(base / "mz-xdg")}
        raw = {**self.raw_env, "XDG_CACHE_HOME": str(base / "raw-xdg"), "UV_CACHE_DIR": str(base / "raw-uv")}
        return mz, raw

    def freeze_locks(self) -> None:
        """The lockfile the installs use, its conda-only half, and its PyPI half as hashed pip requirements."""
        import yaml

        shutil.copy(self.lockfile, self.full_lock)
        data = yaml.safe_load(self.full_lock.read_text())
        pip = [p for p in data["package"] if p["manager"] == "pip"]
        data["package"] = [p for p in data["package"] if p["manager"] != "pip"]
        self.conda_lock.write_text(yaml.safe_dump(data, sort_keys=False))
        self.hashed.write_text("".join(f"{p['name']} @ {p['url']} --hash=sha256:{p['hash']['sha256']}\n" for p in pip))

    def archive_bytes_in_lock(self, lockfile: Path) -> int:
        """The size of every conda archive ``lockfile`` pins (what whole downloads would fetch)."""
        from urllib.parse import unquote, urlsplit

        import yaml

        data = yaml.safe_load(lockfile.read_text())
        urls = [p["url"] for p in data["package"] if p["manager"] == "conda"]
        return sum(self.channel_folder.joinpath(*unquote(urlsplit(u).path).lstrip("/").split("/")).stat().st_size
                   for u in urls)

    # --- commands ---------------------------------------------------------------------------

    def mz(self, *args: object) -> list[str]:
        return [*(MATERIALIZE or [str(runner.materialize_bin())]), "-q", *map(str, args)]

    def mz_lock(self) -> list[str]:
        return self.mz("lock", self.project, "--channel", self.channel)

    def mz_install(self, lockfile: Path, prefix: Path) -> list[str]:
        return self.mz("install", self.project, "--lockfile", lockfile, "--prefix", prefix)

    def raw_lock(self, out: Path) -> list[str]:
        return [sys.executable, str(RAW_LOCK), str(self.project), self.channel, self.index, self.python_minor,
                self.interpreter, str(out)]

    def raw_install(self, lockfile: Path, prefix: Path, rattler_cache: Path, link: str = RAW_LINK,
                    validation: str = RAW_VALIDATION, offline: bool = True, conda_only: bool = False) -> list[str]:
        return [sys.executable, str(RAW_INSTALL), str(lockfile), str(prefix), str(rattler_cache), "--link", link,
                "--validation", validation, *(["--offline"] if offline else []),
                *(["--conda-only"] if conda_only else [])]


def interpreter_for(minor: str, env: dict[str, str]) -> str:
    """The interpreter materialize hands uv (materialize/engines/uv.interpreter_for): the running
    one when its minor version matches (the bench venv's), else what ``uv python find`` finds."""
    if minor == "%d.%d" % sys.version_info[:2]:
        return sys.executable
    import uv

    done = subprocess.run([uv.find_uv_bin(), "python", "find", "--no-config", "--no-python-downloads", minor],
                          env=env, capture_output=True, text=True)
    found = done.stdout.strip().splitlines()
    return found[-1] if done.returncode == 0 and found else sys.executable

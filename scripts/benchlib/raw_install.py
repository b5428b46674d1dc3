"""Baseline: install a materialize lockfile with the raw engines, as a person would by hand.

    python raw_install.py LOCKFILE PREFIX RATTLER_CACHE [--link copy|hardlink] [--validation full|fast]
                          [--offline] [--conda-only]

conda part: py-rattler reads the conda-lock file itself and ``rattler.install`` links the records
with the flags materialize passes (no link scripts, no progress, this platform; ``--link copy``
and ``--validation full`` are materialize's link settings, the defaults are rattler's own).
PyPI part: the pip entries written as ``name @ url --hash=sha256:...`` and ``uv pip install
--no-deps --require-hashes --link-mode copy --reinstall`` into the prefix's Python, with
materialize's fixed uv flags; ``--offline`` makes uv use its warm cache without asking the index
whether each wheel changed (materialize installs from its own verified cache, also offline).
``--conda-only`` runs only rattler: the prefix the PyPI-part baselines install into.
The process ends with os._exit (rattler's exit crash, docs/engines.md).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path

UV_COMMON = ("--no-config", "--no-python-downloads")
PLATFORM = "linux-64"


def conda_records(lockfile: Path, platform: str) -> list:
    from rattler import LockFile

    env = LockFile.from_path(lockfile).default_environment()
    plat = next(p for p in env.platforms() if str(p) == platform)  # LockPlatform(...) panics (docs/engines.md)
    return env.conda_repodata_records_for_platform(plat) or []


def pip_lines(lockfile: Path, platform: str) -> list[str]:
    import yaml

    data = yaml.load(lockfile.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return [f"{p['name']} @ {p['url']} --hash=sha256:{p['hash']['sha256']}\n" for p in data["package"]
            if p["manager"] == "pip" and p["platform"] == platform]


def link(lockfile: Path, prefix: Path, cache: Path, mode: str, validation: str) -> None:
    from rattler import Config, PackageCache, ValidationMode, install
    from rattler.platform import Platform

    options: dict = {}
    if mode == "copy":
        options["config"] = Config.from_toml("allow-hard-links = false\nallow-symbolic-links = false\n"
                                             "allow-ref-links = true\n")
    if validation == "full":
        options["package_cache"] = PackageCache.new_layered([cache], validation_mode=ValidationMode.full())
    else:
        options["cache_dir"] = cache
    asyncio.run(install(conda_records(lockfile, PLATFORM), target_prefix=prefix, show_progress=False,
                        execute_link_scripts=False, platform=Platform(PLATFORM), **options))


def pip_install(lockfile: Path, prefix: Path, offline: bool) -> int:
    import uv

    lines = pip_lines(lockfile, PLATFORM)
    if not lines:
        return 0
    with tempfile.TemporaryDirectory(prefix="raw-uv-") as folder:
        reqs = Path(folder) / "locked.txt"
        reqs.write_text("".join(lines))
        argv = [uv.find_uv_bin(), "pip", "install", *UV_COMMON, "--python", str(prefix / "bin" / "python"),
                "--no-deps", "--require-hashes", "--link-mode", "copy", "--reinstall", "-q", "-r", str(reqs)]
        return subprocess.run(argv + (["--offline"] if offline else []), stdin=subprocess.DEVNULL).returncode


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="raw_install.py")
    parser.add_argument("lockfile", type=Path)
    parser.add_argument("prefix", type=Path)
    parser.add_argument("rattler_cache", type=Path)
    parser.add_argument("--link", choices=("copy", "hardlink"), default="hardlink")
    parser.add_argument("--validation", choices=("full", "fast"), default="fast")
    parser.add_argument("--offline", action="store_true")
    parser.add_argument("--conda-only", action="store_true")
    args = parser.parse_args(argv)
    link(args.lockfile, args.prefix, args.rattler_cache, args.link, args.validation)
    return 0 if args.conda_only else pip_install(args.lockfile, args.prefix, args.offline)


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)

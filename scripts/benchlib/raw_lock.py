"""Baseline: lock the bench project with the raw engines, as a person would by hand.

    python raw_lock.py PROJECT CHANNEL_URL INDEX_URL PYTHON_MINOR INTERPRETER OUTDIR

conda part: ``rattler.solve`` of conda-packages.txt + ``python X.Y.*`` + ``pip`` on the channel,
with the virtual packages materialize assumes for linux-64. PyPI part: ``uv pip compile`` of
requirements.txt + the core file, with the conda-provided distributions as ``-c`` pins and
``--no-emit-package`` (the noarch: python records' own name and version: in this channel a conda
package is named after the distribution it ships), to ``pylock.toml`` with hashes — the same uv
invocation materialize makes. The solved records and pylock.toml land in OUTDIR. Ends with
os._exit (rattler's exit crash, docs/engines.md).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

UV_COMMON = ("--no-config", "--no-python-downloads")
VIRTUAL = (("__archspec", "1", "x86_64"), ("__glibc", "2.28", "0"), ("__linux", "5.10", "0"), ("__unix", "0", "0"))


def conda_specs(project: Path, python_minor: str) -> list[str]:
    lines = [line.split("#", 1)[0].strip() for line in (project / "conda-packages.txt").read_text().splitlines()]
    specs = [line for line in lines if line]
    return specs + [f"python {python_minor}.*", "pip"]


def solve(channel: str, specs: list[str]) -> list:
    from rattler import BuildString, Gateway, GenericVirtualPackage, MatchSpec, PackageName, Version
    from rattler import solve as rattler_solve

    virtual = [GenericVirtualPackage(PackageName(n), Version(v), BuildString(b)) for n, v, b in VIRTUAL]
    return asyncio.run(rattler_solve(sources=[channel], specs=[MatchSpec(s, strict=False) for s in specs],
                                     gateway=Gateway(show_progress=False), platforms=["linux-64", "noarch"],
                                     virtual_packages=virtual))


def compile_pypi(project: Path, index: str, python: str, interpreter: str, provided: dict[str, str],
                 out: Path) -> int:
    import uv

    with tempfile.TemporaryDirectory(prefix="raw-lock-") as folder:
        work = Path(folder)
        shutil.copy(project / "requirements.txt", work / "user.in")
        shutil.copy(project.parent / "core.txt", work / "core.in")
        (work / "constraints.txt").write_text("".join(f"{n}=={v}\n" for n, v in sorted(provided.items())))
        argv = [uv.find_uv_bin(), "pip", "compile", *UV_COMMON, "user.in", "core.in", "-c", "constraints.txt",
                "--format", "pylock.toml", "-o", "pylock.toml", "--generate-hashes", "--no-header", "--quiet",
                "--python-version", python, "--python-platform", "x86_64-manylinux_2_28", "--python", interpreter,
                "--index-strategy", "first-index", "--index-url", index]
        for name in sorted(provided):
            argv += ["--no-emit-package", name]
        done = subprocess.run(argv, cwd=work, stdin=subprocess.DEVNULL)
        if done.returncode == 0:
            shutil.copy(work / "pylock.toml", out / "pylock.toml")
        return done.returncode


def main(argv: list[str]) -> int:
    project, channel, index, python_minor, interpreter, out = argv
    project, out = Path(project), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    records = solve(channel, conda_specs(project, python_minor))
    python = next(str(r.version) for r in records if r.name.normalized == "python")
    provided = {r.name.normalized: str(r.version) for r in records
                if r.noarch is not None and r.noarch.python and r.name.normalized != "python"}
    (out / "conda.json").write_text(json.dumps(sorted(str(r.url) for r in records)))
    return compile_pypi(project, index, python, interpreter, provided, out)


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)

"""Write the core locks (``scripts/lock-core``): each core set's open ranges, resolved afresh by uv for
one Python minor and platform at a time, into a PEP 751 file with every artifact's URL and sha256.

The file is uv's own ``pylock.toml`` output (its ``[[packages]]`` tables, unchanged) under a header that
names what it is for (``environments``, ``requires-python``) and a ``[tool.materialize]`` table that
records the set, the Python, the platform, uv's target and the requirements it was made from.
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..engines import uv as uv_tool, wheel_tags
from ..errors import InputError, ResolutionError
from ..inputs import requirements
from ..secrets import redact
from . import core

PUBLIC_INDEX = "https://pypi.org/simple"
BUILTIN_SETS = Path(__file__).resolve().parent.parent / "inputs" / "core_sets"
_MARKERS = {"linux-64": ("linux", "x86_64"), "linux-aarch64": ("linux", "aarch64"),
            "osx-arm64": ("darwin", "arm64"), "osx-64": ("darwin", "x86_64")}


@dataclass(frozen=True)
class Target:
    core_set: str
    python: str  # minor
    platform: str

    @property
    def label(self) -> str:
        return f"{self.core_set}/{core.file_name(self.python, self.platform)}"


@dataclass
class Outcome:
    target: Target
    path: Path
    before: dict[str, str] | None  # name -> version of the previous file; None when there was none
    after: dict[str, str] = field(default_factory=dict)
    written: bool = False
    error: str = ""  # the target could not be resolved: uv failed, the index is unreachable
    unavailable: str = ""  # uv proved there is no solution (no wheels for this platform): no file

    def moves(self) -> list[str]:
        """``name old -> new``, ``+name new``, ``-name old``, sorted by name."""
        before = self.before or {}
        lines = []
        for name in sorted(set(before) | set(self.after)):
            old, new = before.get(name), self.after.get(name)
            if old != new:
                lines.append(f"+{name} {new}" if old is None else f"-{name} {old}" if new is None
                             else f"{name} {old} -> {new}")
        return lines

    def line(self) -> str:
        if self.error:
            return f"{self.target.label}: FAILED: {self.error}"
        if self.unavailable:
            gone = "; the previous file was removed" if self.before is not None else ""
            return f"{self.target.label}: not lockable: {self.unavailable}{gone}"
        count = f"{len(self.after)} packages"
        if self.before is None:
            return f"{self.target.label}: new, {count}"
        moved = self.moves()
        if moved:
            return f"{self.target.label}: {', '.join(moved)} ({count})"
        return f"{self.target.label}: no version moved ({count}{'; file rewritten' if self.written else ''})"


def core_set_lines(sets_dir: Path, name: str) -> tuple[str, ...]:
    path = sets_dir / f"{name}.txt"
    parsed = requirements.parse_file(path, path.parent)
    odd = [e for e in parsed.entries if e.kind != "pep508"]
    if odd:
        raise InputError(f"{odd[0].where}: {odd[0].text!r}: a core lock holds index packages only")
    return core.requirement_lines(parsed.entries)


def refresh(targets: list[Target], sets_dir: Path, out_dir: Path, index_url: str = PUBLIC_INDEX,
            progress=lambda outcome: None) -> list[Outcome]:
    if "@" in index_url.partition("://")[2].partition("/")[0]:
        raise InputError(f"{redact(index_url)}: a core lock is made from a public index; no credentials in its URL")
    outcomes = []
    for target in targets:
        outcome = lock_one(target, core_set_lines(sets_dir, target.core_set), out_dir, index_url)
        progress(outcome)
        outcomes.append(outcome)
    return outcomes


def lock_one(target: Target, lines: tuple[str, ...], out_dir: Path, index_url: str) -> Outcome:
    path = out_dir / target.core_set / core.file_name(target.python, target.platform)
    outcome = Outcome(target, path, _versions(path) if path.is_file() else None)
    try:
        packages = _resolve(target, lines, index_url)
    except Unsatisfiable as err:
        outcome.unavailable = _for_target(str(err), target)
        path.unlink(missing_ok=True)
        return outcome
    except ResolutionError as err:
        outcome.error = err.message
        return outcome
    text = render(target, lines, packages, index_url)
    outcome.after = _versions_of(text, path)
    if not path.is_file() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.tmp")
        temp.write_text(text)
        temp.replace(path)
        outcome.written = True
    return outcome


def _resolve(target: Target, lines: tuple[str, ...], index_url: str) -> str:
    """uv's ``[[packages]]`` tables for the target, as it wrote them."""
    with tempfile.TemporaryDirectory(prefix="materialize-core-") as folder:
        work = Path(folder)
        (work / "core.in").write_text("\n".join(x for x in lines if not x.startswith("-c ")) + "\n")
        (work / "constraints.txt").write_text("\n".join(x[3:] for x in lines if x.startswith("-c ")) + "\n")
        args = ["pip", "compile", *uv_tool.COMMON, "core.in", "-c", "constraints.txt", "--format", "pylock.toml",
                "-o", "pylock.toml", "--generate-hashes", "--no-header", "--quiet",
                "--python-version", target.python, "--python-platform", wheel_tags.uv_platform(target.platform),
                "--python", _interpreter(target.python), "--index-url", index_url]
        env = {**wheel_tags.uv_environment(target.platform), "UV_CACHE_DIR": str(uv_tool.resolve_cache(target.python))}
        done = uv_tool.run(args, env=env, cwd=work)
        if done.returncode:
            raise _failure(done)
        text = (work / "pylock.toml").read_text()
    start = text.find("[[packages]]")
    return "" if start < 0 else text[start:].rstrip() + "\n"


def _interpreter(minor: str) -> str:
    """An interpreter of the target's minor version, for a package that has only an sdist (every core
    package has wheels today), else ours."""
    if minor == "%d.%d" % sys.version_info[:2]:
        return sys.executable
    return uv_tool.find_python(minor) or sys.executable


class Unsatisfiable(Exception):
    """uv found that no set of versions fits the target (e.g. no wheels for the platform)."""


def _failure(done) -> Exception:
    text = redact(done.stderr)
    if "No solution found" not in text:
        return ResolutionError(done.tail(6).replace("\n", " / "))
    hints = [line.strip()[len("hint: "):] for line in text.splitlines() if line.strip().startswith("hint: ")]
    because = [line.strip() for line in text.splitlines() if "no wheels with a matching" in line]
    return Unsatisfiable((hints or because or ["uv found no solution"])[0])


def _for_target(reason: str, target: Target) -> str:
    return f"for {core.target_of(target.platform)}: {reason}"


def render(target: Target, lines: tuple[str, ...], packages: str, index_url: str) -> str:
    system, machine = _MARKERS[target.platform]
    environment = (f"python_version == '{target.python}' and sys_platform == '{system}' "
                   f"and platform_machine == '{machine}'")
    head = [f"# Core set {target.core_set!r}, pre-locked for CPython {target.python} on {target.platform}.",
            "# Written by scripts/lock-core from materialize/inputs/core_sets; re-run it to refresh (needs the",
            "# network). `materialize lock` takes these versions as exact constraints and checks these sha256s.",
            'lock-version = "1.0"', f"environments = [{json.dumps(environment)}]",
            f'requires-python = "=={target.python}.*"', 'created-by = "materialize"', "", ""]
    tool = ["", "[tool.materialize]", f"core-set = {json.dumps(target.core_set)}",
            f"python = {json.dumps(target.python)}", f"platform = {json.dumps(target.platform)}",
            f"target = {json.dumps(core.target_of(target.platform))}",
            f"index = {json.dumps(index_url)}",
            "requirements = [" + ", ".join(json.dumps(x) for x in lines) + "]", ""]
    return "\n".join(head) + packages + "\n".join(tool)


def _versions(path: Path) -> dict[str, str]:
    try:
        return _versions_of(path.read_text(), path)
    except (OSError, UnicodeDecodeError):
        return {}


def _versions_of(text: str, path: Path) -> dict[str, str]:
    try:
        return {p.name: p.version for p in core.parse(text.encode(), path).pins.values()}
    except InputError:
        return {}

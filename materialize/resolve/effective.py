"""The settings as `materialize lock` would apply them to one project: `materialize config`.

Each row is a setting's effective value (the platforms of the lockfile or this host, the Python the
lockfile keeps, the virtual packages assumed per platform, the core-locks folder), the layer it came
from, and a readable text; one more row says which core lock the project gets per platform.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import platforms as platform_names
from ..errors import MaterializeError
from ..settings import Settings
from . import core, python as python_choice


@dataclass(frozen=True)
class Row:
    key: str
    value: Any  # JSON-ready
    text: str
    source: str


def rows(settings: Settings, project_root: Path, lockfile: Path) -> list[Row]:
    from . import lock as locking

    previous = locking.read_previous(lockfile)
    platforms = settings["platforms"] or (previous.platforms if previous else [platform_names.host()])
    out = []
    for key, value, source in settings.rows():
        out.append(Row(key, value, _text(value), source))
    by_key = {row.key: i for i, row in enumerate(out)}

    def replace(row: Row) -> None:
        out[by_key[row.key]] = row

    if not settings["platforms"]:
        why = f"the platforms of {lockfile.name}" if previous else "this host's platform"
        replace(Row("platforms", platforms, ", ".join(platforms), f"default: {why}"))
    python = python_choice.choose(settings, previous, platforms[0], lockfile.name)
    if python.kept:
        replace(Row("python", python.minor, f"{python.minor} (the python setting, {python.overruled} from "
                                            f"{python.overruled_source}, applies to new lockfiles only)",
                    python.source))
    virtual = {p: _virtual(p, settings["virtual-packages"]) for p in platforms}
    replace(Row("virtual-packages", virtual, "; ".join(f"{p}: {_text(v)}" for p, v in virtual.items()),
                settings.source("virtual-packages")))
    root = core.locks_root(settings)
    shipped = settings["core-locks"] is None
    replace(Row("core-locks", str(root), f"{root}{' (shipped with materialize)' if shipped else ''}",
                settings.source("core-locks")))
    replace(Row("lockfile", settings["lockfile"], f"{settings['lockfile']} ({lockfile})", settings.source("lockfile")))
    out.append(_core_lock_row(settings, project_root, previous, platforms, lockfile.name))
    return out


def _core_lock_row(settings: Settings, project_root: Path, previous, platforms: list[str], lockfile_name: str
                   ) -> Row:
    from ..inputs import project as projects

    try:
        entries, _, name = projects.load_core(settings, project_root)
    except MaterializeError as err:
        return Row("core-lock", None, f"(none: {err.message})", "core, core-requirements")
    named = _python_in_conda_packages(project_root)
    found, texts = {}, []
    for platform in platforms:
        python = python_choice.choose(settings, previous, platform, lockfile_name).minor
        if named and not (previous and platform in previous.python):
            python = named
        try:
            choice = core.choose(name, core.requirement_lines(entries.entries), settings, python, platform)
        except MaterializeError as err:
            choice = core.CoreChoice(None, f"(none: {err.message})")
        found[platform] = str(choice.lock.path) if choice.lock else None
        texts.append(f"{platform}, Python {python}: {choice.why}")
    source = f"core set {name!r}" if name else "core-requirements"
    return Row("core-lock", found, "\n".join(texts + [core.REFRESH_HINT]), source)


def _python_in_conda_packages(project_root: Path) -> str | None:
    """``X.Y`` when conda-packages.txt pins python to one minor version (``python=3.12``, ``python 3.12.*``)."""
    from ..inputs import conda_specs

    path = project_root / conda_specs.FILENAME
    try:
        specs = conda_specs.parse_file(path).specs if path.is_file() else ()
    except MaterializeError:
        return None
    for spec in specs:
        match = re.match(r"python[ =]+(\d+\.\d+)(?:\.|\*|$)", spec.spec) if spec.name == "python" else None
        if match:
            return match.group(1)
    return None


def _virtual(platform: str, overrides: dict[str, str]) -> dict[str, str]:
    from ..engines import conda as conda_engine

    return conda_engine.virtual_values(platform, overrides)


def _text(value: Any) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) if value else "(none)"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) if value else "(none)"
    return str(value)

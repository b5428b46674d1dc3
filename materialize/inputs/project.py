"""A project folder read into one `Project`: conda specs, requirements, indexes, variables, core set."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from . import conda_specs, credentials, dotenv, pip_config, requirements
from .. import files
from ..errors import InputError
from .indexes import Indexes, combine
from .requirements import RequirementsSet
from .variables import expand as variables_expand
from ..settings import Settings

BUILTIN_CORE_SETS = Path(__file__).parent / "core_sets"


@dataclass
class Project:
    root: Path
    conda: conda_specs.CondaFile
    user: RequirementsSet
    core: RequirementsSet
    core_label: str
    core_name: str | None  # the named core set (which may come pre-locked), None for core-requirements
    indexes: Indexes
    variables: dict[str, str]
    input_files: list[Path]

    @property
    def has_pypi(self) -> bool:
        return bool(self.user.entries or self.core.entries)


def load(root: Path, settings: Settings, *, conda: bool = True) -> Project:
    """The project at ``root``; ``conda=False`` leaves conda-packages.txt unread (an install takes
    only the indexes' logins and the variables from the project: the pins are the lockfile's)."""
    root = root.resolve()
    if not root.is_dir():
        raise InputError(f"{root}: no such project folder")
    conda_path = root / conda_specs.FILENAME
    req_path = root / requirements.FILENAME
    if not _present(conda_path) and not _present(req_path):
        raise InputError(f"{root}: neither {conda_specs.FILENAME} nor {requirements.FILENAME} is here",
                         hint="create at least one of them, or pass the project folder as an argument")
    specs = conda_specs.CondaFile((), None)
    if conda and _present(conda_path):
        specs = conda_specs.parse_file(conda_path, root)
    user = requirements.parse_file(req_path, root) if _present(req_path) else RequirementsSet()
    variables = dotenv.variables(root)
    for entry in user.entries:
        dotenv.expand_secret_values(entry.secret_variables, variables)
    core, label, core_name = load_core(settings, root)
    pip_conf = pip_config.read(root / pip_config.FILENAME)

    def expand(text: str, where: str) -> str:
        return variables_expand(text, variables, where)

    indexes = combine(pip_conf, user, expand)
    credentials.collect_from_entries(user.entries + core.entries, variables, indexes.credentials)
    read = [p for p in (conda_path, req_path, root / pip_config.FILENAME) if _present(p)]
    return Project(root, specs, user, core, label, core_name, indexes, variables,
                   list(dict.fromkeys(read + user.files + core.files)))


def _present(path: Path) -> bool:
    """There is something by that name (a directory or a dangling link is then reported, not skipped)."""
    return os.path.lexists(path)


def load_core(settings: Settings, project_root: Path) -> tuple[RequirementsSet, str, str | None]:
    """The core requirements, their label and the set's name: ``core-requirements`` (a file or a list)
    or the named set ``core``, whichever was set in the more specific layer (``core-requirements`` on a tie)."""
    explicit = settings["core-requirements"]
    if settings.rank("core") > settings.rank("core-requirements"):
        explicit = None
    if isinstance(explicit, list):
        return requirements.parse_lines(explicit, "core-requirements", project_root), "core requirements", None
    if isinstance(explicit, str):
        path = Path(explicit)
        if not path.is_absolute():
            path = files.resolve(project_root / path, f"core-requirements ({settings.source('core-requirements')})")
        if not _present(path):
            raise InputError(f"core-requirements ({settings.source('core-requirements')}): {path}: no such file")
        return requirements.parse_file(path, path.parent), f"core ({path.name})", None
    name = settings["core"]
    sets = dict(settings["core-sets"])
    path = Path(sets[name]) if name in sets else BUILTIN_CORE_SETS / f"{name}.txt"
    if files.probe(path, f"core set {name[:80]!r} ({settings.source('core')})") != "file":
        known = sorted(set(sets) | {p.stem for p in BUILTIN_CORE_SETS.glob("*.txt")})
        raise InputError(f"core set {name!r} ({settings.source('core')}) does not exist; known: {', '.join(known)}")
    return requirements.parse_file(path, path.parent), f"core set {name!r}", name

"""What an install takes from the project folder, read the first time it is needed.

The lockfile alone gives the pins. The project folder gives what only this machine has: the
logins (pip.conf, .env, options in requirements.txt), the values of ``${VAR}``s in the lockfile's
URLs, and the indexes a build of a git package or local project uses. An install whose artifacts
are all verified in the cache, with no git package, local project or ``${VAR}``, needs none of
them, and does not read the project (nor import the input parsers: ~45 ms of a warm install).
A project folder that does not read (a mistake in requirements.txt: its own ``lock`` reports it)
gives nothing: the environment's variables, no logins, no indexes.

Reading the project also registers its secrets (the values of ``${VAR}``s in URL logins, a
``.env``'s), which no child process may inherit (``proc.child_environment``). So before the first
child starts, the project is read unless a quick look at its files shows it cannot hold one: no
``.env``, no ``${`` in requirements.txt, pip.conf or a core requirements file, and no ``-r``/``-c``
including another file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import InputError
from ..secrets import Credentials
from ..settings import Settings


_INCLUDES = re.compile(r"(?m)(?:^|\s)(?:-r|-c|--requirement|--constraint)(?:[\s=]|$)")


class ProjectInputs:
    def __init__(self, root: Path, settings: Settings) -> None:
        self.root = root
        self.settings = settings
        self._read = False
        self._looked = False
        self._project = None
        self._no_logins = Credentials()  # without a readable project: one object, which the install adds to

    def _loaded(self):
        if not self._read:
            from ..inputs import project as projects

            self._read = True
            try:
                self._project = projects.load(self.root, self.settings, conda=False)
            except InputError:
                self._project = None
        return self._project

    def before_children(self) -> None:
        """Call before starting a child process (see the module docstring)."""
        if not self._read and not self._looked:
            self._looked = True  # once per run: up to three uv calls follow
            if self._may_hold_secrets():
                self._loaded()

    def _may_hold_secrets(self) -> bool:
        if os.path.lexists(self.root / ".env"):
            return True
        core = self.settings["core-requirements"]
        texts = list(core) if isinstance(core, list) else []
        paths = [self.root / "requirements.txt", self.root / "pip.conf",
                 *(self.root / p for p in ([core] if isinstance(core, str) else [])),
                 *(self.root / p for p in dict(self.settings["core-sets"]).values())]
        for path in paths:
            try:
                texts.append(path.read_text(errors="replace"))
            except FileNotFoundError:
                continue
            except OSError:
                return True
        return any("${" in text or _INCLUDES.search(text) for text in texts)

    @property
    def variables(self) -> dict[str, str]:
        """For ${VAR}s in the lockfile's URLs: the environment, and the project's .env when it is here."""
        project = self._loaded()
        return project.variables if project is not None else dict(os.environ)

    @property
    def credentials(self) -> Credentials:
        """The logins; the same object each time (a git URL's own login is added to it, for git)."""
        project = self._loaded()
        return project.indexes.credentials if project is not None else self._no_logins

    @property
    def index_args(self) -> list[str]:
        """uv's index flags for a build (git packages, local projects)."""
        project = self._loaded()
        return project.indexes.uv_args(self.settings["index-strategy"]) if project is not None else []

    @property
    def index_config(self) -> str | None:
        """The indexes as uv.toml text (no secrets), for a build."""
        project = self._loaded()
        return project.indexes.uv_config() if project is not None else None

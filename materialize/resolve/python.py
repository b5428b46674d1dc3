"""Which Python a lock targets when conda-packages.txt names none.

The lock's Python is a pin like any other: a re-lock keeps it. A ``python`` set for this project
(``--python``, ``MATERIALIZE_PYTHON``, materialize.toml) replaces it, and the change is reported; a
``python`` from the user or site config, or the built-in default, only chooses the Python of a new
lockfile (or of a platform the lockfile does not have yet).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..lockfile import Lock
from ..settings import PROJECT, Settings


@dataclass(frozen=True)
class PythonChoice:
    minor: str  # e.g. "3.12"
    source: str  # where it comes from, for messages
    overruled: str | None = None  # the `python` setting the lockfile's Python was kept over, e.g. "3.11"
    overruled_source: str = ""  # where that setting came from, e.g. "default"

    @property
    def kept(self) -> bool:
        return self.overruled is not None


def minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def choose(settings: Settings, previous: Lock | None, platform: str, lockfile_name: str) -> PythonChoice:
    configured = settings["python"]
    explicit = settings.rank("python") >= PROJECT
    locked = previous.python.get(platform) if previous is not None else None
    if locked and not explicit:
        if minor(locked) == configured:
            return PythonChoice(configured, f"kept from {lockfile_name}")
        return PythonChoice(minor(locked), f"kept from {lockfile_name}", configured, settings.source("python"))
    return PythonChoice(configured, f"setting python ({settings.source('python')})")


def kept_note(choice: PythonChoice, python: str, platform: str) -> str | None:
    """Said when the lockfile's Python stays although the `python` setting names another."""
    if not choice.kept:
        return None
    return (f"Python {python} {choice.source} for {platform}; the python setting ({choice.overruled}, from "
            f"{choice.overruled_source}) applies to new lockfiles only: pass --python {choice.overruled} to change it")

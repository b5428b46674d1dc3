"""One declarative table of settings, resolved in layers that remember where each value came from.

Most specific first: command-line flags, environment variables (``MATERIALIZE_<KEY>``), the
project's ``materialize.toml``, the user's config file, the site config file, built-in defaults.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import files
from .errors import InputError, UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CONFIG_FILENAME = "config.toml"
PROJECT_FILENAME = "materialize.toml"


def _str_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [v.strip() for v in value.replace(",", " ").split() if v.strip()]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError("expected a list of strings")


def _str(value: Any) -> str:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    raise ValueError("expected a string")


def _python(value: Any) -> str:
    if isinstance(value, float):
        raise ValueError(f"write the version as a string (python = \"{value}\"): a TOML number turns 3.10 into 3.1")
    value = _str(value)
    if not re.fullmatch(r"[0-9]+\.[0-9]+", value):
        raise ValueError(f"expected X.Y, such as 3.11 (not {value[:40]!r})")
    return value


def _virtual(value: Any) -> dict[str, str]:
    table = _table(value)
    for name, version in table.items():
        if not re.fullmatch(r"__[A-Za-z0-9_.\-]+", name):
            raise ValueError(f"{name[:40]!r} is not a virtual package name (__glibc, __cuda, __osx, ...)")
        if not re.fullmatch(r"[^\s=]*(=[^\s=]+)?", version):
            raise ValueError(f"{name} = {version[:40]!r}: expected VERSION or VERSION=BUILD")
    return table


def _core(value: Any) -> str | list[str]:
    return value if isinstance(value, str) else _str_list(value)


def _table(value: Any) -> dict[str, str]:
    if isinstance(value, dict) and all(isinstance(v, (str, int, float)) for v in value.values()):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, str):
        raise ValueError("""expected a table of strings (in a variable: '{name = "value"}')""")
    raise ValueError("expected a table of strings")


def _strategy(value: Any) -> str:
    value = _str(value)
    if value not in ("first-index", "unsafe-best-match", "unsafe-first-match"):
        raise ValueError("expected first-index, unsafe-first-match or unsafe-best-match")
    return value


@dataclass(frozen=True)
class Setting:
    key: str
    default: Any
    parse: Callable[[Any], Any]
    help: str

    @property
    def env_var(self) -> str:
        return "MATERIALIZE_" + self.key.upper().replace("-", "_")


SETTINGS: tuple[Setting, ...] = (
    Setting("channels", ["conda-forge"], _str_list, "conda channels, by name or URL, highest priority first"),
    Setting("python", "3.11", _python, "Python version (X.Y) locked when conda-packages.txt names none"),
    Setting("platforms", [], _str_list, "conda subdirs to lock for (empty: this host's)"),
    Setting("core", "default", _str, "named set of the serving runtime's core packages"),
    Setting("core-requirements", None, _core, "core requirements: a requirements file, or a list (overrides `core`)"),
    Setting("core-sets", {}, _table, "extra named core sets: name -> requirements file"),
    Setting("core-locks", None, _str, "folder of pre-locked core sets, <set>/pylock.cp3XY-<platform>.toml "
            "(unset: the ones shipped with materialize)"),
    Setting("lockfile", "materialize-lock.yml", _str, "lockfile path, relative to the project"),
    Setting("index-strategy", "first-index", _strategy, "how uv chooses between indexes (see README)"),
    Setting("virtual-packages", {}, _virtual, "virtual package overrides, e.g. __glibc = \"2.28\", __cuda = \"12.4\""),
    Setting("insecure-registries", [], _str_list, "registries (host[:port]) reached over plain HTTP or unverified TLS"),
)
BY_KEY = {s.key: s for s in SETTINGS}
RECORDED = ("channels", "python", "core", "core-requirements", "core-sets", "core-locks", "index-strategy",
            "virtual-packages")


# Layer ranks: a larger rank is more specific.
DEFAULT, SITE, USER, PROJECT, ENV, FLAG = range(6)
_RANKS = {"site config": SITE, "user config": USER, "project": PROJECT}


@dataclass(frozen=True)
class Resolved:
    value: Any
    source: str
    rank: int = DEFAULT


@dataclass
class Settings:
    values: dict[str, Resolved] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.values[key].value

    def source(self, key: str) -> str:
        return self.values[key].source

    def rank(self, key: str) -> int:
        return self.values[key].rank

    def rows(self) -> list[tuple[str, Any, str]]:
        return [(key, r.value, r.source) for key, r in self.values.items()]

    def recorded(self) -> dict[str, Any]:
        """What a lockfile records of the settings it was made with (those that shape a lock)."""
        return {key: self[key] for key in RECORDED}

    def under(self, recorded: Mapping[str, Any]) -> "Settings":
        """These settings, where nothing more specific than a default is given now taking the value a
        lockfile was made with: `--channel URL` at lock time is not repeated by `install --locked`."""
        values = dict(self.values)
        for key, value in recorded.items():
            if key in values and values[key].rank == DEFAULT:
                values[key] = Resolved(value, "the lockfile", DEFAULT)
        return Settings(values)


def config_files() -> list[tuple[str, Path]]:
    """(label, path) of the site and user config files, least specific first."""
    import platformdirs

    return [
        ("site config", Path(platformdirs.site_config_dir("materialize")) / CONFIG_FILENAME),
        ("user config", Path(platformdirs.user_config_dir("materialize")) / CONFIG_FILENAME),
    ]


def read_toml(path: Path) -> dict[str, Any]:
    text = files.read_text(path, str(path))
    try:
        data = tomllib.loads(text)
    except RecursionError as err:
        raise InputError.at(path, None, "not valid TOML (nested too deeply)") from err
    except tomllib.TOMLDecodeError as err:
        line = getattr(err, "lineno", None)
        message = str(err.args[0] if err.args else err)[:200]
        raise InputError.at(path, line, f"not valid TOML ({message})") from err
    if path.name == "pyproject.toml":
        tool = data.get("tool")
        data = tool.get("materialize", data) if isinstance(tool, dict) else data
    return data if isinstance(data, dict) else {}


def load(project: Path | None, flags: Mapping[str, Any], environ: Mapping[str, str] = os.environ) -> Settings:
    """Resolve every setting; a later layer overrides an earlier one."""
    settings = Settings({s.key: Resolved(s.default, "default") for s in SETTINGS})
    layers: list[tuple[str, Path]] = config_files()
    if project is not None:
        layers.append(("project", project / PROJECT_FILENAME))
    for label, path in layers:
        if os.path.lexists(path):
            _apply(settings, read_toml(path), f"{label} {path}", path, _RANKS[label])
    for setting in SETTINGS:
        if setting.env_var in environ:
            _set(settings, setting, _from_env(setting, environ[setting.env_var]), f"env {setting.env_var}", None, ENV)
    for key, value in flags.items():
        if value not in (None, [], ()):
            _set(settings, BY_KEY[key], value, f"flag --{key}", None, FLAG)
    return settings


def _apply(settings: Settings, data: Mapping[str, Any], source: str, path: Path, rank: int) -> None:
    for key, value in data.items():
        setting = BY_KEY.get(key.replace("_", "-"))
        if setting is None:
            known = ", ".join(BY_KEY)
            raise InputError.at(path, _line_of(path, key), f"unknown setting {key!r} (known: {known})")
        _set(settings, setting, value, source, path, rank, base=path.parent)


def _from_env(setting: Setting, text: str) -> Any:
    """A list or table setting may be written as TOML in its variable: ``MATERIALIZE_CHANNELS='["a", "b"]'``,
    ``MATERIALIZE_VIRTUAL_PACKAGES='{__glibc = "2.28"}'``; a plain list is also ``a,b`` or ``a b``."""
    if not text.lstrip().startswith(("[", "{")):
        return text
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except RecursionError as err:
        raise InputError(f"env {setting.env_var}: nested too deeply") from err
    except tomllib.TOMLDecodeError as err:
        kind = "array" if text.lstrip().startswith("[") else "inline table"
        raise InputError(f"env {setting.env_var}: not a TOML {kind} ({str(err)[:120]})",
                         hint=f"""{setting.env_var}='["a", "b"]' or {setting.env_var}='a,b'""" if kind == "array"
                         else f"""{setting.env_var}='{{name = "value"}}'""") from err


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    return isinstance(value, list) and any(_has_nul(v) for v in value)


def _set(settings: Settings, setting: Setting, raw: Any, source: str, path: Path | None, rank: int,
         base: Path | None = None) -> None:
    try:
        if _has_nul(raw):
            raise ValueError("contains a NUL character")
        value = setting.parse(raw)
    except ValueError as err:
        if rank == FLAG:
            raise UsageError(f"--{setting.key} {str(raw)[:40]}: {err}", hint="see 'materialize lock --help'") from err
        where = path if path is not None else source
        line = _line_of(path, setting.key) if path is not None else None
        raise InputError.at(where, line, f"{setting.key}: {err}") from err
    if base is not None and setting.key in ("core-requirements", "core-sets", "core-locks", "lockfile", "channels"):
        value = _anchor(value, base, setting.key)
    settings.values[setting.key] = Resolved(value, source, rank)


def _anchor(value: Any, base: Path, key: str) -> Any:
    """Make file paths in a config file relative to that file's folder."""
    for text in ([value] if isinstance(value, str) else list(value.values()) if isinstance(value, dict) else value):
        files.check_path_length(text, f"{key} {text[:80]!r}")
    if key == "core-sets":
        return {name: str(files.resolve(base / p, f"core-sets.{name[:40]}")) for name, p in value.items()}
    if key == "channels":  # a local folder is relative to the config file that names it
        return [str(files.resolve(base / c, f"channel {c[:80]!r}")) if c.startswith(("./", "../")) or c in (".", "..")
                else c for c in value]
    if isinstance(value, str) and key in ("core-requirements", "core-locks", "lockfile"):
        return str(files.resolve(base / value, f"{key} {value[:80]!r}")) if not Path(value).is_absolute() else value
    return value


def _line_of(path: Path | None, key: str) -> int | None:
    if path is None or not path.is_file():
        return None
    for number, line in enumerate(files.read_text(path, str(path)).splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith((key, key.replace("-", "_"))):
            return number
    return None

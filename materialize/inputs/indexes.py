"""Package indexes as pip would combine them: pip.conf, then requirements-file options on top.

URLs are kept without credentials; the logins go to `Credentials`, by origin. uv is given the
indexes as a config file (``uv_config``: named ``[[index]]`` entries, no secrets), so that an index
whose origin has a login can be marked ``authenticate = "always"``: uv then asks our keyring
provider for exactly that origin (``engines/child_auth.py``), and never sends it anywhere else.

Every option pip obeys is obeyed here or refused: index URLs (checked: a URL uv can read),
find-links, ``--trusted-host`` (uv's ``--allow-insecure-host``), ``--no-binary``/``--only-binary``
(pip's FormatControl rules, in file order) and ``--prefer-binary`` (a wheel-only resolve first, see
`resolve.pypi`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from urllib.parse import urlsplit

from packaging.utils import canonicalize_name

from .credentials import Credentials
from .pip_config import PipConfig
from .requirement_line import LineError, check_url
from .requirements import RequirementsSet
from ..errors import InputError
from ..secrets import has_literal_credentials, origin

PYPI = "https://pypi.org/simple"


@dataclass
class FormatControl:
    """pip's ``FormatControl``: package names (or ``:all:``) that must not / must use wheels."""

    no_binary: set[str] = field(default_factory=set)
    only_binary: set[str] = field(default_factory=set)

    def add(self, option: str, value: str) -> None:
        target, other = (self.no_binary, self.only_binary) if option == "no-binary" else (
            self.only_binary, self.no_binary)
        names = value.split(",")
        while ":all:" in names:
            other.clear()
            target.clear()
            target.add(":all:")
            del names[:names.index(":all:") + 1]
            if ":none:" not in names:
                return
        for name in names:
            if name == ":none:":
                target.clear()
            elif name:
                other.discard(canonicalize_name(name))
                target.add(canonicalize_name(name))

    def uv_args(self) -> list[str]:
        args: list[str] = []
        for flag, names in (("--no-binary", self.no_binary), ("--only-binary", self.only_binary)):
            for name in sorted(names):
                args += [flag, name]
        return args


@dataclass
class Indexes:
    index_url: str = PYPI
    extra_index_urls: list[str] = field(default_factory=list)
    find_links: list[str] = field(default_factory=list)
    no_index: bool = False
    pre: bool = False
    trusted_hosts: list[str] = field(default_factory=list)
    formats: FormatControl = field(default_factory=FormatControl)
    prefer_binary: bool = False
    credentials: Credentials = field(default_factory=Credentials)

    def uv_args(self, strategy: str) -> list[str]:
        """The flags; the indexes themselves are in `uv_config`."""
        args = ["--index-strategy", strategy]
        if self.no_index and not self.find_links:
            args.append("--no-index")
        if self.pre:
            args += ["--prerelease", "allow"]
        for host in self.trusted_hosts:
            args += ["--allow-insecure-host", host]
        return args + self.formats.uv_args()

    def uv_config(self, direct_origins: Iterable[str] = ()) -> str:
        """uv.toml text: extra indexes (in priority order), the default index, find-links (flat), and
        an explicit entry per origin of a direct URL that has a login (it only scopes the login).
        With ``--no-index``, the first find-links location is the default: nothing else is asked."""
        entries: list[dict[str, object]] = []
        if not self.no_index:
            entries += [{"url": url} for url in self.extra_index_urls]
            entries.append({"url": self.index_url, "default": True})
        flat = [{"url": url, "format": "flat"} for url in self.find_links]
        if self.no_index and flat:
            flat[0]["default"] = True
        entries += flat
        covered = {origin(str(e["url"])) for e in entries}
        entries += [{"url": key + "/", "explicit": True} for key in sorted(set(direct_origins) - covered)
                    if key in self.credentials.logins]
        lines = []
        for number, entry in enumerate(entries):
            lines += ["[[index]]", f"name = \"materialize-{number}\""]
            lines += [f"{key} = {_toml(value)}" for key, value in entry.items()]
            if origin(str(entry["url"])) in self.credentials.logins:
                lines.append('authenticate = "always"')
            lines.append("")
        return "\n".join(lines)

    def hosts(self) -> list[str]:
        urls = [] if self.no_index else [self.index_url, *self.extra_index_urls]
        return [u.split("://", 1)[1].split("/", 1)[0] for u in urls + self.find_links if "://" in u]

    def describe(self) -> list[str]:
        """The index URLs, for the lockfile and messages (no credentials: they were split off)."""
        return [] if self.no_index else [self.index_url, *self.extra_index_urls]

    def options_digest(self) -> list[str]:
        """What else changes the resolution, for the input digest."""
        return [*self.find_links, *(f"trusted:{h}" for h in self.trusted_hosts),
                *(f"no-binary:{n}" for n in sorted(self.formats.no_binary)),
                *(f"only-binary:{n}" for n in sorted(self.formats.only_binary)),
                *(["prefer-binary"] if self.prefer_binary else [])]


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")  # a valid TOML basic string


def combine(pip_conf: PipConfig, requirements: RequirementsSet, expand) -> Indexes:
    """``expand(text, where)`` replaces ${VAR} tokens (credentials often come that way)."""
    indexes = Indexes()
    creds = indexes.credentials

    def clean(option: str, values: list[str], where: str | list[str]) -> list[str]:
        places = where if isinstance(where, list) else [where] * len(values)
        return [creds.add_url(_checked(expand(value, place), f"{place}: {option}", option != "find-links"), place,
                              literal=has_literal_credentials(value)) for value, place in zip(values, places)]

    def from_requirements(option: str) -> list[str]:
        found = [(value, where) for name, value, where in requirements.options if name == option]
        return clean(option, [v for v, _ in found], [w for _, w in found])

    conf, where = pip_conf.values, pip_conf.where
    if conf.get("index-url"):
        indexes.index_url = clean("index-url", conf["index-url"], where.get("index-url", "pip.conf"))[0]
    indexes.extra_index_urls += clean("extra-index-url", conf.get("extra-index-url", []),
                                      where.get("extra-index-url", "pip.conf"))
    indexes.find_links += clean("find-links", conf.get("find-links", []), where.get("find-links", "pip.conf"))
    indexes.no_index = _flag(conf, "no-index")
    indexes.pre = _flag(conf, "pre")
    indexes.prefer_binary = _flag(conf, "prefer-binary")
    if requirements.option_values("index-url"):
        indexes.index_url = from_requirements("index-url")[-1]
    indexes.extra_index_urls += from_requirements("extra-index-url")
    indexes.find_links += from_requirements("find-links")
    indexes.no_index |= bool(requirements.option_values("no-index"))
    indexes.pre |= bool(requirements.option_values("pre"))
    indexes.prefer_binary |= bool(requirements.option_values("prefer-binary"))
    _build_options(indexes, pip_conf, requirements, expand)
    indexes.extra_index_urls = list(dict.fromkeys(u for u in indexes.extra_index_urls if u != indexes.index_url))
    indexes.find_links = list(dict.fromkeys(indexes.find_links))
    return indexes


def _build_options(indexes: Indexes, pip_conf: PipConfig, requirements: RequirementsSet, expand) -> None:
    """--trusted-host and --no-binary/--only-binary, pip.conf first, then the requirements files, in order."""
    conf = pip_conf.values
    settings = [(key, value, pip_conf.where.get(key, "pip.conf")) for key in conf for value in conf[key]]
    for option, value, where in settings + requirements.options:
        if option == "trusted-host":
            indexes.trusted_hosts.append(_host(expand(value, where), where))
        elif option in ("no-binary", "only-binary"):
            indexes.formats.add(option, value)
    indexes.trusted_hosts = list(dict.fromkeys(indexes.trusted_hosts))


def _checked(url: str, where: str, must_be_url: bool) -> str:
    """A URL uv and urllib can read (a local find-links folder is not a URL and stays as it is)."""
    if "://" not in url and not must_be_url:
        return url
    try:
        check_url(url)
    except LineError as err:
        raise InputError(f"{where}: {err}") from err
    return url


def _host(value: str, where: str) -> str:
    """``--trusted-host HOST[:PORT]`` as pip takes it (a URL's host part)."""
    try:
        parts = urlsplit(f"//{value}")
        parts.port  # noqa: B018 (raises ValueError when out of range)
    except ValueError as err:
        raise InputError(f"{where}: --trusted-host {value[:80]!r} is not HOST[:PORT] ({err})") from err
    if not parts.hostname or parts.path or parts.query or parts.fragment or "@" in value:
        raise InputError(f"{where}: --trusted-host {value[:80]!r} is not HOST[:PORT]")
    return value


def _flag(conf: dict[str, list[str]], key: str) -> bool:
    return key in conf and conf[key][:1] not in (["false"], ["0"], ["no"], ["off"])

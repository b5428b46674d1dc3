"""Package indexes and build options as pip would combine them: pip.conf, then requirements-file options.

URLs are kept without credentials; the credentials go to `credentials.Credentials`. Every option
pip obeys is obeyed here or refused: index URLs, find-links, ``--trusted-host`` (uv's
``--allow-insecure-host``), ``--no-binary``/``--only-binary`` (pip's FormatControl rules) and
``--prefer-binary`` (a wheel-only resolve first, see `resolve.pypi`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from packaging.utils import canonicalize_name

from .credentials import Credentials
from .pip_config import PipConfig
from .requirement_line import LineError, check_url
from .requirements import RequirementsSet
from ..errors import InputError
from ..secrets import redact

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

    def allows(self, name: str, kind: str) -> bool:
        """May ``name``'s artifact of ``kind`` ("wheel" or "sdist") be used?"""
        name = canonicalize_name(name)
        if kind == "wheel":
            return name not in self.no_binary and (":all:" not in self.no_binary or name in self.only_binary)
        return name not in self.only_binary and (":all:" not in self.only_binary or name in self.no_binary)

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
        args = ["--index-strategy", strategy]
        if self.no_index:
            args.append("--no-index")
        else:
            args += ["--index-url", self.index_url]
            for url in self.extra_index_urls:
                args += ["--extra-index-url", url]
        for link in self.find_links:
            args += ["--find-links", link]
        for host in self.trusted_hosts:
            args += ["--allow-insecure-host", host]
        if self.pre:
            args += ["--prerelease", "allow"]
        return args + self.formats.uv_args()

    def hosts(self) -> list[str]:
        urls = [] if self.no_index else [self.index_url, *self.extra_index_urls]
        return [urlsplit(u).netloc for u in urls + self.find_links if "://" in u]

    def describe(self) -> list[str]:
        return [redact(u) for u in ([] if self.no_index else [self.index_url, *self.extra_index_urls])]

    def options_digest(self) -> list[str]:
        """What else changes the resolution, for the input digest."""
        return [*self.find_links, *(f"trusted:{h}" for h in self.trusted_hosts),
                *(f"no-binary:{n}" for n in sorted(self.formats.no_binary)),
                *(f"only-binary:{n}" for n in sorted(self.formats.only_binary)),
                *(["prefer-binary"] if self.prefer_binary else [])]


def combine(pip_conf: PipConfig, requirements: RequirementsSet, expand) -> Indexes:
    """``expand(text, where)`` replaces ${VAR} tokens (credentials often come that way)."""
    indexes = Indexes()
    conf = pip_conf.values
    settings = [(key, value, pip_conf.where.get(key, "pip.conf")) for key in conf for value in conf[key]]
    for option, value, where in settings + requirements.options:
        _apply(indexes, option, value, where, expand)
    indexes.extra_index_urls = list(dict.fromkeys(u for u in indexes.extra_index_urls if u != indexes.index_url))
    indexes.find_links = list(dict.fromkeys(indexes.find_links))
    indexes.trusted_hosts = list(dict.fromkeys(indexes.trusted_hosts))
    return indexes


def _apply(indexes: Indexes, option: str, value: str, where: str, expand) -> None:
    def url() -> str:
        text = expand(value, where)
        try:
            check_url(text)
        except LineError as err:
            raise InputError(f"{where}: {option}: {err}") from err
        return indexes.credentials.add_url(text)

    if option == "index-url":
        indexes.index_url = url()
    elif option == "extra-index-url":
        indexes.extra_index_urls.append(url())
    elif option == "find-links":
        indexes.find_links.append(url() if "://" in value else expand(value, where))
    elif option == "trusted-host":
        indexes.trusted_hosts.append(_host(expand(value, where), where))
    elif option in ("no-binary", "only-binary"):
        indexes.formats.add(option, value)
    elif option in ("no-index", "pre", "prefer-binary"):
        setattr(indexes, option.replace("-", "_"), value != "false")


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

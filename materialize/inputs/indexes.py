"""Package indexes as pip would combine them: pip.conf, then requirements-file options on top.

URLs are kept without credentials; the logins go to `Credentials`, by origin. uv is given the
indexes as a config file (``uv_config``: named ``[[index]]`` entries, no secrets), so that an index
whose origin has a login can be marked ``authenticate = "always"``: uv then asks our keyring
provider for exactly that origin (``engines/child_auth.py``), and never sends it anywhere else.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from .credentials import Credentials
from .pip_config import PipConfig
from .requirements import RequirementsSet
from ..secrets import has_literal_credentials, origin

PYPI = "https://pypi.org/simple"


@dataclass
class Indexes:
    index_url: str = PYPI
    extra_index_urls: list[str] = field(default_factory=list)
    find_links: list[str] = field(default_factory=list)
    no_index: bool = False
    pre: bool = False
    credentials: Credentials = field(default_factory=Credentials)

    def uv_args(self, strategy: str) -> list[str]:
        """The flags; the indexes themselves are in `uv_config`."""
        args = ["--index-strategy", strategy]
        if self.no_index and not self.find_links:
            args.append("--no-index")
        if self.pre:
            args += ["--prerelease", "allow"]
        return args

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


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")  # a valid TOML basic string


def combine(pip_conf: PipConfig, requirements: RequirementsSet, expand) -> Indexes:
    """``expand`` replaces ${VAR} tokens (credentials often come that way)."""
    indexes = Indexes()
    creds = indexes.credentials

    def clean(values: list[str], where: str | list[str]) -> list[str]:
        places = where if isinstance(where, list) else [where] * len(values)
        return [creds.add_url(expand(value), place, literal=has_literal_credentials(value))
                for value, place in zip(values, places)]

    def from_requirements(option: str) -> list[str]:
        found = [(value, where) for name, value, where in requirements.options if name == option]
        return clean([v for v, _ in found], [w for _, w in found])

    conf, where = pip_conf.values, pip_conf.where
    if conf.get("index-url"):
        indexes.index_url = clean(conf["index-url"], where.get("index-url", "pip.conf"))[0]
    indexes.extra_index_urls += clean(conf.get("extra-index-url", []), where.get("extra-index-url", "pip.conf"))
    indexes.find_links += clean(conf.get("find-links", []), where.get("find-links", "pip.conf"))
    indexes.no_index = _flag(conf, "no-index")
    indexes.pre = _flag(conf, "pre")
    if requirements.option_values("index-url"):
        indexes.index_url = from_requirements("index-url")[-1]
    indexes.extra_index_urls += from_requirements("extra-index-url")
    indexes.find_links += from_requirements("find-links")
    indexes.no_index |= bool(requirements.option_values("no-index"))
    indexes.pre |= bool(requirements.option_values("pre"))
    indexes.extra_index_urls = list(dict.fromkeys(u for u in indexes.extra_index_urls if u != indexes.index_url))
    return indexes


def _flag(conf: dict[str, list[str]], key: str) -> bool:
    return key in conf and conf[key][:1] not in (["false"], ["0"], ["no"], ["off"])

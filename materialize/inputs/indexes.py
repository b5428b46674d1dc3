"""Package indexes as pip would combine them: pip.conf, then requirements-file options on top.

URLs are kept without credentials; the credentials go to `credentials.Credentials`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .credentials import Credentials
from .pip_config import PipConfig
from .requirements import RequirementsSet
from ..secrets import redact

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
        args = ["--index-strategy", strategy]
        if self.no_index:
            args.append("--no-index")
        else:
            args += ["--index-url", self.index_url]
            for url in self.extra_index_urls:
                args += ["--extra-index-url", url]
        for link in self.find_links:
            args += ["--find-links", link]
        if self.pre:
            args += ["--prerelease", "allow"]
        return args

    def hosts(self) -> list[str]:
        urls = [] if self.no_index else [self.index_url, *self.extra_index_urls]
        return [urlsplit(u).netloc for u in urls + self.find_links if "://" in u]

    def describe(self) -> list[str]:
        return [redact(u) for u in ([] if self.no_index else [self.index_url, *self.extra_index_urls])]


def combine(pip_conf: PipConfig, requirements: RequirementsSet, expand) -> Indexes:
    """``expand`` replaces ${VAR} tokens (credentials often come that way)."""
    indexes = Indexes()
    creds = indexes.credentials

    def clean(values: list[str]) -> list[str]:
        return [creds.add_url(expand(v)) for v in values]

    conf = pip_conf.values
    if conf.get("index-url"):
        indexes.index_url = clean(conf["index-url"])[0]
    indexes.extra_index_urls += clean(conf.get("extra-index-url", []))
    indexes.find_links += clean(conf.get("find-links", []))
    indexes.no_index = _flag(conf, "no-index")
    indexes.pre = _flag(conf, "pre")
    if requirements.option_values("index-url"):
        indexes.index_url = clean(requirements.option_values("index-url"))[-1]
    indexes.extra_index_urls += clean(requirements.option_values("extra-index-url"))
    indexes.find_links += clean(requirements.option_values("find-links"))
    indexes.no_index |= bool(requirements.option_values("no-index"))
    indexes.pre |= bool(requirements.option_values("pre"))
    indexes.extra_index_urls = list(dict.fromkeys(u for u in indexes.extra_index_urls if u != indexes.index_url))
    return indexes


def _flag(conf: dict[str, list[str]], key: str) -> bool:
    return key in conf and conf[key][:1] not in (["false"], ["0"], ["no"], ["off"])

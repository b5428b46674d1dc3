"""The only module that imports rattler: solve, read package file lists, link. Translates its errors.

Engine traps handled here (docs/engines.md): specs are pre-parsed leniently, channel
names are mapped to the configured channel URLs, one Gateway per run, virtual packages are fixed
per platform (so that a lock does not depend on the machine that made it).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from typing import TYPE_CHECKING
from ..errors import FetchError, InputError, MaterializeError, ResolutionError
from ..secrets import redact

if TYPE_CHECKING:
    from ..inputs.conda_specs import CondaSpec

log = logging.getLogger(__name__)
CHANNEL_ALIAS = "https://conda.anaconda.org/"

# Virtual packages assumed per platform family; `virtual-packages` settings override them.
DEFAULT_VIRTUAL = {
    "linux": {"__unix": "0", "__linux": "5.10", "__glibc": "2.28"},
    "osx": {"__unix": "0", "__osx": "11.0"},
    "win": {"__win": "0"},
}


@dataclass(frozen=True)
class SolvedPackage:
    name: str
    version: str
    build: str
    subdir: str
    url: str
    channel: str
    sha256: str
    md5: str
    depends: tuple[str, ...]
    noarch: str | None

    @property
    def provides_python_dists(self) -> bool:
        return self.name != "python" and (self.noarch == "python" or any(
            d.split()[0] == "python" for d in self.depends))


class LinkFailed(MaterializeError):
    """rattler could not extract or link a package (disk full, permissions, a clobbered prefix)."""

    exit_code = 5
    kind = "link"


@dataclass(frozen=True)
class ParsedSpec:
    name: str  # normalized
    build: str | None
    canonical: str
    channel: str | None = None  # a channel the spec itself names (``[channel=...]``)


class SpecError(ValueError):
    """rattler could not parse a MatchSpec; the message is rattler's first line."""


def parse_match_spec(text: str) -> ParsedSpec:
    """Lenient, as conda reads ``conda list --export`` lines (``name=ver=build``)."""
    from rattler import MatchSpec

    try:
        match = MatchSpec(text, strict=False)
    except Exception as err:  # rattler's InvalidMatchSpecError family has no public base class
        lines = str(err).strip().splitlines()
        first = lines[0] if lines else type(err).__name__
        raise SpecError(first if len(first) <= 300 else first[:300] + "...") from err
    name = match.name.normalized if match.name is not None else ""
    channel = match.channel.name if match.channel is not None else None
    return ParsedSpec(name, None if match.build is None else str(match.build), str(match), channel)


def channel_url(channel: str) -> str:
    """A channel name -> its URL on the public host; a URL stays; a local folder becomes file://."""
    if "://" in channel:
        return channel.rstrip("/")
    if channel in (".", "..", "~") or channel.startswith(("/", "./", "../", "~/")):
        from .. import files

        return files.resolve(channel, f"channel {channel[:80]!r}").as_uri()  # never the public host for a path
    return CHANNEL_ALIAS + channel.strip("/")


def _run(coro):
    """asyncio.run; the CLI exits with os._exit afterwards (rattler's exit crash)."""
    import asyncio  # only where rattler runs (25 ms: not on an install that links no conda package)

    return asyncio.run(coro)


# Virtual packages that exist only on some platform families: an override never adds them elsewhere
# (a `__glibc` override must not let a glibc-only package solve for osx-arm64).
_FAMILIES = {"__glibc": ("linux",), "__linux": ("linux",), "__osx": ("osx",), "__win": ("win",),
             "__unix": ("linux", "osx")}


def virtual_values(platform: str, overrides: Mapping[str, str]) -> dict[str, str]:
    """name -> "version[=build]" assumed for ``platform``: the family defaults, then the overrides."""
    family = platform.split("-")[0]
    values = dict(DEFAULT_VIRTUAL.get(family, {}))
    arch = platform.split("-", 1)[1] if "-" in platform else ""
    if arch and arch != "noarch":
        values["__archspec"] = "1"
    values.update({k: v for k, v in overrides.items() if family in _FAMILIES.get(k, (family,))})
    return {k: v for k, v in sorted(values.items()) if v}  # an empty override removes a default


def virtual_packages(platform: str, overrides: Mapping[str, str]) -> list:
    from rattler import BuildString, GenericVirtualPackage, PackageName, Version

    arch = platform.split("-", 1)[1] if "-" in platform else ""
    packages = []
    for name, value in virtual_values(platform, overrides).items():
        version, _, build = value.partition("=")
        if name == "__archspec":
            build = build or {"64": "x86_64", "aarch64": "aarch64", "arm64": "arm64"}.get(arch, arch)
        try:
            packages.append(GenericVirtualPackage(PackageName(name), Version(version), BuildString(build or "0")))
        except Exception as err:  # rattler's parse errors share no public base class
            raise InputError(f"virtual-packages: {name} = {value!r} is not a virtual package and version[=build] "
                             f"({str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__})",
                             hint='e.g. __glibc = "2.28" or __cuda = "12.4"') from err
    return packages


def version_order(old: str, new: str) -> int:
    """1 when ``new`` is the newer conda version, -1 when older, 0 when equal or either does not parse."""
    from rattler import Version

    try:
        a, b = Version(old), Version(new)
    except Exception:  # rattler's InvalidVersionError has no public base class
        return 0
    return (a < b) - (a > b)


def solve(channels: Sequence[str], specs: Sequence[CondaSpec], platform: str, *,
          virtual: Mapping[str, str] = {}, locked: Iterable[SolvedPackage] = (),
          optional: Sequence[CondaSpec] = (), gateway=None) -> list[SolvedPackage]:
    """Solve ``specs`` for ``platform`` against ``channels``, preferring ``locked`` pins; ``optional``
    specs join only when the channels have a package of that name (e.g. ``pip``)."""
    from rattler import Gateway, MatchSpec

    urls = [channel_url(c) for c in channels]
    match_specs = [MatchSpec(_with_channel(spec, channels, urls), strict=False) for spec in specs]
    gateway = gateway or Gateway(show_progress=False)
    try:
        match_specs += [MatchSpec(_with_channel(spec, channels, urls), strict=False)
                        for spec in _present(gateway, urls, platform, optional)]
        locked_records = _locked_records(gateway, urls, platform, locked)
        virtual_list = virtual_packages(platform, virtual)
        records = _run(_solve(gateway, urls, match_specs, platform, virtual_list, locked_records))
    except Exception as err:  # rattler's exceptions share no public base class
        raise _translate(err, specs, platform) from err
    return sorted((_solved(r) for r in records), key=lambda p: p.name)


async def _solve(gateway, urls, specs, platform, virtual, locked):
    from rattler import solve

    return await solve(sources=urls, specs=specs, gateway=gateway, platforms=[platform, "noarch"],
                       virtual_packages=virtual, locked_packages=locked or None)


def _present(gateway, urls, platform, specs: Sequence[CondaSpec]) -> list[CondaSpec]:
    """The specs whose package name the channels hold for ``platform`` or noarch."""
    if not specs:
        return []
    from rattler import MatchSpec

    result = _run(gateway.query(urls, [platform, "noarch"], [MatchSpec(s.name, strict=False) for s in specs],
                                recursive=False))
    names = {record.name.normalized for per_channel in result for record in per_channel}
    return [s for s in specs if s.name in names]


def _locked_records(gateway, urls, platform, locked: Iterable[SolvedPackage]) -> list:
    """The previous lock's records, found again in the channels (so unchanged pins stay put)."""
    wanted = {p.url: p for p in locked if p.subdir in (platform, "noarch")}
    if not wanted:
        return []
    from rattler import MatchSpec

    result = _run(gateway.query(urls, [platform, "noarch"],
                                [MatchSpec(p.name, strict=False) for p in wanted.values()], recursive=False))
    found = []
    for per_channel in result:
        for record in per_channel:
            if str(record.url).rstrip("/") in wanted:
                found.append(record)
    return found


def _with_channel(spec: CondaSpec, names: Sequence[str], urls: Sequence[str]) -> str:
    if spec.channel is None:
        return spec.spec
    wanted = spec.channel.rstrip("/")
    for name, url in zip(names, urls):
        if wanted in (name.rstrip("/"), url, url.rsplit("/", 1)[-1]) or channel_url(wanted) == url:
            return f"{url}/{spec.subdir}::{spec.spec}" if spec.subdir else f"{url}::{spec.spec}"
    raise InputError(f"{spec.where}: channel {spec.channel!r} is not one of the configured channels "
                     f"({', '.join(names)})", hint="add it to `channels` in materialize.toml or pass --channel")


def _translate(err: Exception, specs: Sequence[CondaSpec], platform: str) -> Exception:
    if isinstance(err, InputError):
        return err
    name = type(err).__name__
    text = redact(str(err)).strip()
    if "Solver" in name or "cannot be installed" in text or "No candidates" in text:
        sources = "; ".join(f"{s.spec} ({s.where})" for s in specs)
        return ResolutionError(f"the conda packages cannot be solved for {platform}:\n{text}\n"
                               f"requested: {sources}")
    if "Fetch" in name or "Io" in name or "Gateway" in name or "Http" in name:
        return FetchError(f"cannot read the conda channels for {platform}: {text.splitlines()[0] if text else name}")
    return err


def _solved(record) -> SolvedPackage:
    noarch = record.noarch
    noarch_kind = None
    if noarch is not None and (noarch.python or noarch.generic):
        noarch_kind = "python" if noarch.python else "generic"
    return SolvedPackage(
        name=record.name.normalized, version=str(record.version), build=str(record.build),
        subdir=str(record.subdir), url=str(record.url), channel=str(record.channel or ""),
        sha256=_hex(record.sha256), md5=_hex(record.md5), depends=tuple(record.depends), noarch=noarch_kind,
    )


def _hex(value) -> str:
    if value is None:
        return ""
    return value.hex() if isinstance(value, (bytes, bytearray)) else str(value)


def records_from_archives(archives: Sequence[Path], sha256s: Sequence[str] = ()) -> list:
    """rattler's RepoDataRecord of each archive.

    ``RepoDataRecord.from_package_archive`` reads the archive's index.json and hashes the whole
    archive (~0.2 s for 180 archives). Given each archive's sha256 (already checked by ``fetch``),
    the index.json read the first time is remembered in the cache under that sha256, and later
    records are built from it with the known sha256 and size: the same record, no archive opened."""
    sha256s = list(sha256s) or [""] * len(archives)
    records: list = [_remembered_record(a, s) if s else None for a, s in zip(archives, sha256s)]
    missing = [i for i, record in enumerate(records) if record is None]
    if missing:
        from rattler import RepoDataRecord

        async def build():
            import asyncio

            return await asyncio.gather(*(RepoDataRecord.from_package_archive(archives[i]) for i in missing))

        for i, record in zip(missing, _run(build())):
            records[i] = record
            if sha256s[i]:
                _remember_record(record, sha256s[i])
    return records


def _remembered_record(archive: Path, sha256: str):
    """The record built from the remembered index.json, or None (not remembered, or it does not match)."""
    import json

    from .. import cache

    memo = cache.root() / cache.CONDA_RECORDS / f"{sha256}.json"
    if not memo.is_file():
        return None
    from rattler import PackageRecord, RepoDataRecord

    try:
        md5 = json.loads(memo.read_text()).get("md5")
        package = PackageRecord.from_index_json(memo)
        record = RepoDataRecord(package, archive.name, archive.as_uri(), None)
        record.sha256 = bytes.fromhex(sha256)
        record.size = archive.stat().st_size
        if md5:  # rattler computes it for some archive formats: keep whatever it found
            record.md5 = bytes.fromhex(md5)
    except Exception:  # a broken memo (rattler's errors share no base class): read the archive instead
        return None
    stem = f"{record.name.normalized}-{record.version}-{record.build}"
    return record if archive.name in (f"{stem}.conda", f"{stem}.tar.bz2") else None


def _remember_record(record, sha256: str) -> None:
    """Keep the index.json part of ``record`` (and md5 if rattler found one; not the archive's place,
    sha256 or size)."""
    import json

    from .. import cache

    data = json.loads(record.to_json())
    for key in ("fn", "url", "channel", "sha256", "size"):
        data.pop(key, None)
    cache.remember(cache.bucket(cache.CONDA_RECORDS) / f"{sha256}.json", json.dumps(data, sort_keys=True))


def link(archives: Sequence[Path], prefix: Path, cache_dir: Path, platform: str, sha256s: Sequence[str] = (), *,
         kept: Sequence[Path] = (), installed: Sequence[Path] = (), reinstall: Iterable[str] = ()) -> None:
    """Make ``prefix`` hold exactly the packages of ``archives`` plus those whose records ``kept``
    names; rattler unlinks every other package among the ``installed`` records, and links afresh
    the names in ``reinstall``. The caller decides what is installed: rattler does not scan.

    Files are copied (or reflinked), never hardlinked: a hardlinked prefix shares inodes with the
    cache, so editing one file in place would change the cache and every other prefix built from
    it. ``allow-symbolic-links`` only governs a package's own softlink entries (relative links
    inside the prefix); without it rattler copies their targets unpatched. Every cached extraction
    is fully validated (sha256 of each file) before it is linked.
    """
    from rattler import Config, PackageCache, PrefixRecord, ValidationMode, install
    from rattler.exceptions import ExtractError, InstallerError, IoError, LinkError, TransactionError
    from rattler.platform import Platform

    records = records_from_archives(archives, sha256s) + [PrefixRecord.from_path(path) for path in kept]
    present = [PrefixRecord.from_path(path) for path in installed]
    config = Config.from_toml("allow-hard-links = false\nallow-symbolic-links = true\nallow-ref-links = true\n")
    package_cache = PackageCache.new_layered([cache_dir], validation_mode=ValidationMode.full())
    try:
        _run(install(records, target_prefix=prefix, installed_packages=present, reinstall_packages=set(reinstall),
                     package_cache=package_cache, config=config, show_progress=False,
                     execute_link_scripts=False, platform=Platform(platform)))
    except (ExtractError, InstallerError, IoError, LinkError, TransactionError) as err:
        raise LinkFailed(f"linking the conda packages into {prefix} failed: {_one_line(redact(str(err)))}") from err


def _one_line(text: str) -> str:
    """rattler's error chain (``Caused by: ...`` lines) as one line: what failed, then the root cause."""
    lines = [line.strip().removeprefix("Caused by:").strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if len(lines) < 2 else f"{lines[0]}: {lines[-1]}"

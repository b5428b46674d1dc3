"""The differential oracles: what pip's own requirements parser and rattler's MatchSpec make of an input,
next to what materialize makes of it, both reduced to the same comparable view.

pip is the test venv's own (``pip._internal.req.req_file``, the code ``pip install -r`` runs).
"""

from __future__ import annotations

import contextlib
import optparse
import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from packaging.utils import canonicalize_name

from materialize.errors import InputError
from materialize.inputs import conda_specs, indexes, pip_config, requirements

PYPI = "https://pypi.org/simple"


def pip_view(path: Path) -> dict | str:
    """pip's reading of a requirements file (relative paths start at the working directory)."""
    from pip._internal.exceptions import PipError
    from pip._internal.index.collector import LinkCollector
    from pip._internal.index.package_finder import PackageFinder
    from pip._internal.models.format_control import FormatControl
    from pip._internal.models.release_control import ReleaseControl
    from pip._internal.models.search_scope import SearchScope
    from pip._internal.models.selection_prefs import SelectionPreferences
    from pip._internal.network.session import PipSession
    from pip._internal.req.constructors import install_req_from_parsed_requirement
    from pip._internal.req.req_file import parse_requirements

    session = PipSession()
    finder = PackageFinder.create(LinkCollector(session, SearchScope.create([], [PYPI], False)),
                                  SelectionPreferences(allow_yanked=True, release_control=ReleaseControl(),
                                                       format_control=FormatControl()))
    options = optparse.Values({"require_hashes": False, "no_require_hashes": False, "features_enabled": []})
    try:
        reqs = []
        for parsed in parse_requirements(str(path), session, finder=finder, options=options):
            ireq = install_req_from_parsed_requirement(parsed)
            hashes = sorted(f"{a}:{d}" for a, ds in (parsed.options or {}).get("hashes", {}).items() for d in ds)
            url = ireq.link.url if ireq.link else None
            spec = str(ireq.req.specifier) if ireq.req is not None and ireq.link is None else ""
            extras = sorted(canonicalize_name(e) for e in ireq.extras)
            reqs.append({"name": canonicalize_name(ireq.name) if ireq.name else None, "url": _url(url),
                         "spec": spec, "extras": extras, "marker": str(ireq.markers) if ireq.markers else None,
                         "hashes": hashes, "editable": parsed.is_editable, "constraint": parsed.constraint})
    except (PipError, ValueError) as err:
        return f"error: {type(err).__name__}"
    except SystemExit:
        return "error: SystemExit"
    formats = finder.format_control
    return {"reqs": reqs, "index_urls": list(finder.index_urls), "find_links": [_url(u) for u in finder.find_links],
            "trusted": list(finder.trusted_hosts), "no_binary": sorted(formats.no_binary),
            "only_binary": sorted(formats.only_binary), "prefer_binary": finder._candidate_prefs.prefer_binary,
            "pre": ":all:" in finder.release_control.all_releases}


def our_view(path: Path, project: Path) -> dict | str:
    try:
        parsed = requirements.parse_file(path, project)
        combined = indexes.combine(pip_config.PipConfig(), parsed, lambda text, where: text)
    except InputError as err:
        return f"error: {err.message.split(': ', 1)[-1][:60]}"
    reqs = []
    for entry in parsed.entries:
        spec = str(entry.requirement.specifier) if entry.kind == "pep508" else ""
        url = entry.path.as_uri() if entry.path is not None else (entry.location or None)
        reqs.append({"name": entry.name, "url": _url(url), "spec": spec, "extras": list(entry.extras),
                     "marker": entry.marker, "hashes": sorted(entry.hashes), "editable": False,
                     "constraint": entry.constraint})
    formats = combined.formats
    return {"reqs": reqs,
            "index_urls": [] if combined.no_index else [combined.index_url, *combined.extra_index_urls],
            "find_links": [_url(u) for u in combined.find_links], "trusted": combined.trusted_hosts,
            "no_binary": sorted(formats.no_binary), "only_binary": sorted(formats.only_binary),
            "prefer_binary": combined.prefer_binary, "pre": combined.pre}


def _url(url: str | None) -> str | None:
    """file: URLs and local paths as absolute paths, so that pip's and ours compare."""
    if url is None:
        return None
    if url.startswith("file:"):
        return os.path.normpath(unquote(urlsplit(url).path))
    return os.path.normpath(url) if url.startswith("/") else url


def rattler_view(line: str) -> dict | str:
    """rattler's MatchSpec (lenient, as conda reads a --file) of one conda-packages.txt line."""
    from rattler import MatchSpec

    try:
        spec = MatchSpec(line, strict=False)
    except Exception as err:  # rattler's errors share no public base class
        return f"error: {type(err).__name__}"
    return _spec_view(spec, spec.channel)


def our_conda_view(line: str, project: Path) -> dict | str:
    from rattler import MatchSpec

    from materialize.engines.conda import channel_url

    try:
        parsed = conda_specs.parse_spec(line, 1, project=project)
    except InputError as err:
        return f"error: {err.message.split(': ', 2)[-1][:60]}"
    view = _spec_view(MatchSpec(parsed.spec, strict=False), None)
    view["channel"] = channel_url(parsed.channel).rstrip("/") if parsed.channel else None
    view["subdir"] = parsed.subdir or view["subdir"]
    return view


def _spec_view(spec, channel) -> dict:
    return {"name": spec.name.normalized if spec.name else None, "version": str(spec.version or ""),
            "build": str(spec.build or ""), "build_number": str(spec.build_number or ""),
            "channel": str(channel.base_url).rstrip("/") if channel is not None else None,
            "subdir": spec.subdir}


@contextlib.contextmanager
def working_directory(path: Path):
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)

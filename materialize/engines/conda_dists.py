"""Which PyPI distributions a conda package ships: its own dist-info/egg-info folders, named in its
``info/paths.json`` (or ``info/files``). Read without downloading the archive where the server serves
ranges (``package_info``), and remembered per archive sha256 (``conda-dists-v1``): lock asks for
every locked package that could ship one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..errors import IntegrityError
from . import package_info

_DIST_INFO = re.compile(r"(?:^|/)site-packages/([^/]+?)-([^/-]+)\.(?:dist-info|egg-info)(?:/|$)")

INFO_FILES = frozenset({"info/paths.json", "info/files"})


def remembered_distributions(sha256: str, root: Path | None = None) -> list[tuple[str, str]] | None:
    """What ``distributions_at`` found before in the archive with this sha256, if it was asked."""
    import json

    from .. import cache

    try:
        with open((root or cache.root()) / cache.CONDA_DISTS / f"{sha256}.json", "rb") as handle:
            found = json.loads(handle.read())
        return [(str(name), str(version)) for name, version in found]
    except (OSError, ValueError, TypeError):
        return None


def distributions_at(packages: Sequence[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """(distribution name, version) of every dist-info/egg-info each (url, sha256) archive ships.

    Remembered answers first (per sha256, in ``conda-dists-v1``); the others are read in parallel,
    with range requests over HTTP (``package_info``): no whole archive is downloaded at lock time
    where the server serves ranges."""
    from .. import cache

    root = cache.root()
    found = [remembered_distributions(sha256, root) for _, sha256 in packages]
    missing = [i for i, known in enumerate(found) if known is None]

    def read(index: int) -> list[tuple[str, str]]:
        url, sha256 = packages[index]
        return _remember(sha256, _distributions_in(package_info.read_info(url, sha256, INFO_FILES)))

    if missing:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(8, len(missing))) as pool:
            for index, result in zip(missing, pool.map(read, missing)):
                found[index] = result
    return found  # type: ignore[return-value]


def _distributions_in(info: Mapping[str, bytes]) -> list[tuple[str, str]]:
    """The dist-info/egg-info folders named in paths.json (or the older info/files list)."""
    import json

    if "info/paths.json" in info:
        try:
            paths = [str(entry["_path"]) for entry in json.loads(info["info/paths.json"]).get("paths", [])]
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise IntegrityError(f"a conda package's info/paths.json is malformed ({type(err).__name__}: {err})",
                                 hint="check the channel; re-index it if the file was replaced") from err
    else:
        paths = info.get("info/files", b"").decode("utf-8", "replace").splitlines()
    found = set()
    for path in paths:
        match = _DIST_INFO.search(path)
        if match:
            found.add((match.group(1), match.group(2)))
    return sorted(found)


def _remember(sha256: str, result: list[tuple[str, str]]) -> list[tuple[str, str]]:
    import json

    from .. import cache

    if sha256:
        cache.remember(cache.bucket(cache.CONDA_DISTS) / f"{sha256}.json", json.dumps(result))
    return result

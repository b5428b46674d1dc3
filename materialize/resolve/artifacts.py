"""Which artifact of a locked version goes into the lockfile: the best wheel for the target, else the sdist,
unless the requirement line pins hashes, in which case only an artifact with one of those hashes.

pip's hash-checking mode accepts an artifact when any ``--hash`` on its line matches it, under
sha256, sha384 or sha512. uv's pylock gives sha256 for every artifact; the other algorithms are
checked on the downloaded file (it lands in the same cache the install reads).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import unquote, urlsplit

from packaging import tags
from packaging.utils import parse_wheel_filename

from .. import cache
from ..engines import fetch
from ..errors import IntegrityError
from ..inputs.requirements import Entry


def candidates(package: dict, ranks: dict[tags.Tag, int], base: Path) -> list[tuple[str, str, str]]:
    """(url, sha256, kind) of every artifact that fits the target, best first."""
    ranked = []
    for wheel in package.get("wheels", []):
        url = _url(wheel, base)
        rank = _rank(url.rsplit("/", 1)[-1], ranks)
        if rank is not None:
            ranked.append((rank, url, _sha256(wheel)))
    found = [(url, sha, "wheel") for _, url, sha in sorted(ranked)]
    if package.get("sdist"):
        found.append((_url(package["sdist"], base), _sha256(package["sdist"]), "sdist"))
    archive = package.get("archive")
    if archive:
        url = _url(archive, base)
        found.append((url, _sha256(archive), "wheel" if url.endswith(".whl") else "sdist"))
    return found


def choose(name: str, version: str, found: list[tuple[str, str, str]], entry: Entry | None,
           credentials=None) -> tuple[str, str, str] | None:
    """The first candidate, or the first one whose hash is on the requirement line."""
    if entry is None or not entry.hashes:
        return found[0] if found else None
    wanted = {}
    for text in entry.hashes:
        algorithm, _, digest = text.partition(":")
        wanted.setdefault(algorithm, set()).add(digest.lower())
    for url, sha256, kind in found:
        if sha256 in wanted.get("sha256", ()):
            return url, sha256, kind
    for url, sha256, kind in found:
        others = {a: d for a, d in wanted.items() if a != "sha256"}
        if others and _matches_other(url, sha256, others, credentials):
            return url, sha256, kind
    names = ", ".join(url.rsplit("/", 1)[-1] for url, _, _ in found) or "none"
    raise IntegrityError(f"{entry.where}: {name} {version}: none of its artifacts for this target ({names}) "
                         "has one of the hashes on that line", hint="update the --hash values (pip hash FILE), "
                         "or remove them to trust the index")


def _matches_other(url: str, sha256: str, wanted: dict[str, set[str]], credentials) -> bool:
    path = fetch.fetch(url, sha256, bucket=cache.WHEELS, credentials=credentials)
    digests = {algorithm: hashlib.new(algorithm) for algorithm in wanted}
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            for digest in digests.values():
                digest.update(chunk)
    return any(digests[a].hexdigest() in wanted[a] for a in wanted)


def _url(artifact: dict, base: Path) -> str:
    if "url" in artifact:
        return artifact["url"]
    path = Path(artifact["path"])
    return (path if path.is_absolute() else base / path).resolve().as_uri()


def _sha256(artifact: dict) -> str:
    return str((artifact.get("hashes") or {}).get("sha256", "")).lower()


def _rank(filename: str, ranks: dict[tags.Tag, int]) -> int | None:
    try:
        wheel_tags = parse_wheel_filename(unquote(urlsplit(filename).path or filename))[3]
    except ValueError:
        return None
    return min((ranks[t] for t in wheel_tags if t in ranks), default=None)

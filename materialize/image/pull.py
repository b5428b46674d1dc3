"""pull: fetch an environment image into the blob cache, verify every blob, write the prefix.

Nothing in the prefix changes until every blob is in the cache and matches its digest: a
corrupted or truncated download (exit 6), a missing blob or a refused login (exit 5) leaves the
previous environment as it was. Blobs the cache already holds (re-hashed) are not fetched again.
An image is refused (exit 3) when it is not a materialize environment, was built for another
platform, or for another path: conda environments embed their path, so an image mounts and
unpacks only at the path it was built at.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import platforms
from ..errors import InputError, IntegrityError
from ..prefix import expected as prefix_expected, state as prefix_state
from ..ui import Console
from . import build, unpack
from .blobs import BlobCache, Store, digest_of

PARALLEL_FETCHES = 3  # blobs in flight at once, as docker pulls


@dataclass
class PullReport:
    reference: str
    digest: str
    prefix: Path
    status: str  # "pulled" | "up-to-date"
    layers: int = 0
    fetched: int = 0
    fetched_bytes: int = 0
    cached: int = 0
    kept_files: int = 0
    seconds: float = 0.0

    def lines(self) -> list[str]:
        if self.status == "up-to-date":
            return [f"{self.prefix} already holds {self.reference} ({self.digest[:19]})"]
        return [f"Pulled {self.reference} -> {self.prefix} ({self.layers} layers): fetched {self.fetched} blobs "
                f"({self.fetched_bytes / 1048576:.1f} MiB), {self.cached} from the cache, in {self.seconds:.1f}s",
                f"digest: {self.digest}"]

    def as_data(self) -> dict[str, Any]:
        return {"reference": self.reference, "digest": self.digest, "prefix": str(self.prefix), "status": self.status,
                "layers": self.layers, "fetched": {"blobs": self.fetched, "bytes": self.fetched_bytes},
                "cached": self.cached, "kept_files": self.kept_files}


def pull(store: Store, prefix: Path, console: Console, *, repair: bool = False) -> PullReport:
    """``repair``: even when the stamp says the prefix holds this image, compare every file and
    rewrite what differs (as ``install --repair`` does)."""
    started = time.monotonic()
    manifest, digest = image_manifest(store)
    annotations = manifest.get("annotations") or {}
    check_target(store.name, annotations, prefix)
    report = PullReport(store.name, digest, prefix, "pulled")
    if not repair and _holds_already(prefix, annotations):
        report.status = "up-to-date"
        return report
    with unpack.os_errors(prefix, f"fetching {store.name} into the cache"):
        blobs = BlobCache()
        descriptors = layer_descriptors(store, manifest, blobs, report)
        with console.task(f"fetching {store.name}", len(descriptors)) as task:
            def one(descriptor: dict) -> tuple[Path, int | None]:
                got = fetch_blob(store, blobs, descriptor)
                task.advance()
                return got

            with ThreadPoolExecutor(max_workers=PARALLEL_FETCHES) as pool:
                fetched = list(pool.map(one, [descriptor for descriptor, _ in descriptors]))
    layers = [unpack.Layer(path, diff_id) for (path, _), (_, diff_id) in zip(fetched, descriptors)]
    _count(report, [size for _, size in fetched])
    report.layers = len(layers)
    console.progress(f"writing {prefix} ...")
    state = image_state(store.name, layers[-1], prefix)
    with unpack.os_errors(prefix, f"pulling into {prefix}"):
        report.kept_files = unpack.write_prefix(prefix, layers, state.expected)
    console.done_progress()
    report.seconds = time.monotonic() - started
    return report


def layer_descriptors(store: Store, manifest: dict, blobs: BlobCache, report: PullReport | None = None
                      ) -> list[tuple[dict, str]]:
    """(descriptor, diff_id) of every layer, from the manifest and its (verified) config."""
    path, size = fetch_blob(store, blobs, manifest["config"])
    if report is not None:
        _count(report, [size])
    config = json.loads(path.read_bytes())
    descriptors = manifest.get("layers") or []
    diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
    if not descriptors or len(diff_ids) != len(descriptors):
        raise IntegrityError(f"{store.name}: the config lists {len(diff_ids)} layers, the manifest {len(descriptors)}")
    for descriptor in descriptors:
        if descriptor.get("mediaType") not in (*build.LAYER_TYPES, "application/vnd.oci.image.layer.v1.tar"):
            raise InputError(f"{store.name}: a layer of media type {descriptor.get('mediaType')!r} is not supported")
    return [(descriptor, str(diff_id)) for descriptor, diff_id in zip(descriptors, diff_ids)]


def image_manifest(store: Store) -> tuple[dict, str]:
    """The image manifest for this machine's platform (from an index when the reference names one)."""
    data, media_type = store.resolve()
    if media_type in (build.OCI_INDEX, build.DOCKER_LIST):
        wanted = build.oci_platform(platforms.host())
        entries = json.loads(data).get("manifests") or []
        match = [e for e in entries if all((e.get("platform") or {}).get(k) == v for k, v in wanted.items())]
        if not match:
            raise InputError(f"{store.name}: an index with no image for {wanted['os']}/{wanted['architecture']}")
        data, media_type = store.manifest(match[0]["digest"])
    if media_type not in (build.OCI_MANIFEST, build.DOCKER_MANIFEST):
        raise InputError(f"{store.name}: not an image manifest (media type {media_type!r})")
    return json.loads(data), digest_of(data)


def check_target(name: str, annotations: dict[str, str], prefix: Path) -> None:
    recorded = annotations.get(build.PREFIX)
    if not recorded:
        raise InputError(f"{name}: not an environment image made by materialize (no {build.PREFIX} annotation)")
    if Path(recorded) != prefix:
        raise InputError(f"{name} is the environment for {recorded}; refusing to pull it into {prefix}: conda "
                         "environments embed their path", hint=f"pull with --prefix {recorded}, or mount the image there")
    platform = annotations.get(build.PLATFORM)
    if platform and platform != platforms.host():
        raise InputError(f"{name} was built for {platform}; this machine is {platforms.host()}")


@dataclass(frozen=True)
class ImageState:
    expected: prefix_expected.ExpectedState
    stamp: dict


def image_state(name: str, state_layer: unpack.Layer, prefix: Path) -> ImageState:
    """The expected state and stamp the image's last layer carries (its diff_id checked)."""
    state = unpack.read_state(state_layer)
    try:
        recorded = prefix_expected.ExpectedState.from_json(json.loads(state[prefix_expected.EXPECTED]))
        recorded.files()  # every entry decoded now: nothing changes in the prefix before the image is accepted
        stamp = json.loads(state[prefix_state.STAMP])
    except (KeyError, ValueError, TypeError, IntegrityError) as err:
        raise InputError(f"{name}: its last layer holds no readable {prefix_state.STATE_DIR}/ expected state and "
                         "stamp: not an environment image made by this materialize") from err
    if recorded.prefix != str(prefix):
        raise IntegrityError(f"{name}: its expected state is for {recorded.prefix}, its annotation for {prefix}")
    return ImageState(recorded, stamp)


def _holds_already(prefix: Path, annotations: dict[str, str]) -> bool:
    """The prefix is a finished install of the same lockfile by the same tool, records untouched."""
    stamp = prefix_state.read_stamp(prefix)
    lock_digest = (annotations.get(build.LOCK_DIGEST) or "").removeprefix("sha256:")
    return stamp is not None and prefix_expected.read(prefix) is not None and \
        prefix_state.is_current(prefix, lock_digest, annotations.get(build.TOOL_VERSION) or "") and \
        stamp.platform == annotations.get(build.PLATFORM) and stamp.python == annotations.get(build.PYTHON)


def _count(report: PullReport, sizes: list[int | None]) -> None:
    report.fetched += sum(1 for size in sizes if size is not None)
    report.fetched_bytes += sum(size for size in sizes if size is not None)
    report.cached += sum(1 for size in sizes if size is None)


def fetch_blob(store: Store, blobs: BlobCache, descriptor: dict) -> tuple[Path, int | None]:
    """The verified blob in the cache, and its size when it was fetched (None: it was cached
    already, and re-hashed)."""
    digest, size = str(descriptor.get("digest")), int(descriptor.get("size", -1))
    cached = blobs.verified(digest)
    if cached is not None and cached.stat().st_size == size:
        return cached, None
    temp = blobs.temp()
    try:
        store.get_blob(digest, temp)
        if temp.stat().st_size != size:
            raise IntegrityError(f"{store.name}: the blob {digest} has {temp.stat().st_size} bytes, the manifest "
                                 f"says {size}")
        try:
            path = blobs.adopt(temp, digest)
        except IntegrityError as err:
            raise IntegrityError(f"{store.name}: {err.message}; refusing it", hint="the registry or the layout is "
                                 "corrupted, or something changed the data on the way: nothing was written") from err
    finally:
        temp.unlink(missing_ok=True)
    return path, size

"""An installed prefix -> an OCI image (layers, config, manifest) in the blob cache.

Config and manifest are compact JSON with sorted keys, with no creation time: the same lockfile
installed at the same path gives the same digests. The manifest's annotations (and the config's
labels) carry the environment's path, the lockfile digest, the platform, Python and the tool
version. A layer already built for exactly the same entries (``oci-layers-v1/<key>.json``) is
reused after its files are checked, so a second push of an unchanged prefix compresses nothing.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import cache
from ..prefix import state as prefix_state
from . import layers, prefix_files
from .blobs import BlobCache, digest_of

log = logging.getLogger(__name__)

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
LAYER_TYPES = (OCI_LAYER_GZIP, DOCKER_LAYER_GZIP)

NS = "dev.materialize."
PREFIX = NS + "prefix"
LOCK_DIGEST = NS + "lock-digest"
PLATFORM = NS + "platform"
PYTHON = NS + "python"
TOOL_VERSION = NS + "tool-version"
IMAGE_FORMAT = NS + "image-format"
PACKAGES = NS + "packages"  # on each layer descriptor
FORMAT_VERSION = "1"

_OCI_PLATFORMS = {"linux-64": ("linux", "amd64"), "linux-aarch64": ("linux", "arm64"),
                  "linux-ppc64le": ("linux", "ppc64le"), "linux-s390x": ("linux", "s390x"),
                  "linux-32": ("linux", "386"), "linux-armv7l": ("linux", "arm"), "osx-64": ("darwin", "amd64"),
                  "osx-arm64": ("darwin", "arm64"), "win-64": ("windows", "amd64")}


@dataclass
class Image:
    manifest: bytes
    config: bytes
    layers: list[tuple[layers.LayerPlan, layers.BuiltLayer]]
    platform: dict[str, str]
    reused: list[str] = field(default_factory=list)  # layer names taken from the built-layer cache

    @property
    def digest(self) -> str:
        return digest_of(self.manifest)

    @property
    def blobs(self) -> list[tuple[str, int]]:
        """(digest, size) of every blob the manifest references: layers, then the config."""
        return [(built.digest, built.size) for _, built in self.layers] + [(digest_of(self.config), len(self.config))]


def canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def oci_platform(subdir: str) -> dict[str, str]:
    os_name, arch = _OCI_PLATFORMS.get(subdir, ("linux", "amd64") if subdir == "noarch" else ("unknown", subdir))
    return {"architecture": arch, "os": os_name}


def build(prefix: Path, store: BlobCache) -> Image:
    """Cut the image from a finished install at ``prefix`` (its real path, which the image records)."""
    stamp = prefix_state.read_stamp(prefix)
    entries = prefix_files.expected_files(prefix)
    assert stamp is not None  # expected_files refuses an unfinished prefix
    plans = layers.plan(entries, prefix_files.state_files(prefix))
    image = Image(b"", b"", [], oci_platform(stamp.platform))

    def one(plan: layers.LayerPlan) -> tuple[layers.BuiltLayer, bool]:
        built = _cached_layer(plan, store)
        if built is not None:
            layers.check(prefix, plan)
            return built, True
        return _write_layer(prefix, plan, store), False

    # zlib and sha256 release the GIL: layers compress in parallel, largest first.
    order = sorted(plans, key=lambda plan: -sum(e.size for e in plan.entries))
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        done = dict(zip((p.name for p in order), pool.map(one, order)))
    for plan in plans:
        built, reused = done[plan.name]
        image.layers.append((plan, built))
        if reused:
            image.reused.append(plan.name)
    annotations = _annotations(prefix, stamp)
    image.config = canonical({**image.platform, "config": {"Labels": annotations},
                              "rootfs": {"type": "layers", "diff_ids": [b.diff_id for _, b in image.layers]}})
    image.manifest = canonical({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "annotations": annotations,
        "config": {"mediaType": OCI_CONFIG, "digest": digest_of(image.config), "size": len(image.config)},
        "layers": [_descriptor(plan, built) for plan, built in image.layers]})
    for data in (image.config, image.manifest):
        if not store.has(digest_of(data)):
            temp = store.temp()
            temp.write_bytes(data)
            store.adopt(temp, digest_of(data))
    return image


def _annotations(prefix: Path, stamp: prefix_state.Stamp) -> dict[str, str]:
    return {PREFIX: str(prefix), LOCK_DIGEST: f"sha256:{stamp.lock_digest}", PLATFORM: stamp.platform,
            PYTHON: stamp.python, TOOL_VERSION: stamp.tool_version, IMAGE_FORMAT: FORMAT_VERSION,
            "org.opencontainers.image.description":
                f"Python {stamp.python} environment ({stamp.platform}) for {prefix}, built by materialize; "
                f"mount it at {prefix}"}


def _descriptor(plan: layers.LayerPlan, built: layers.BuiltLayer) -> dict[str, Any]:
    descriptor: dict[str, Any] = {"mediaType": OCI_LAYER_GZIP, "digest": built.digest, "size": built.size}
    descriptor["annotations"] = {PACKAGES: ",".join(plan.packages) if plan.packages else plan.name}
    return descriptor


def _layer_record(plan: layers.LayerPlan) -> Path:
    return cache.bucket(cache.OCI_LAYERS) / f"{plan.key()}.json"


def _cached_layer(plan: layers.LayerPlan, store: BlobCache) -> layers.BuiltLayer | None:
    try:
        data = json.loads(_layer_record(plan).read_text())
        built = layers.BuiltLayer(str(data["digest"]), str(data["diff_id"]), int(data["size"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return built if store.has(built.digest) else None


def _write_layer(prefix: Path, plan: layers.LayerPlan, store: BlobCache) -> layers.BuiltLayer:
    temp = store.temp()
    try:
        built = layers.write(prefix, plan, temp)
        store.adopt(temp, built.digest)
    finally:
        temp.unlink(missing_ok=True)
    record = _layer_record(plan)
    temp_record = record.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    temp_record.write_text(json.dumps(built.__dict__, sort_keys=True))
    temp_record.replace(record)
    log.debug("layer %s: %s (%d bytes)", plan.name, built.digest, built.size)
    return built

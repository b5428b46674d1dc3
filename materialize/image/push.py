"""push: cut the image from a finished prefix, send only the blobs the target lacks, then the manifest.

Blobs go first (layers, then the config), the manifest last and byte for byte, so that a reader
never sees a manifest whose blobs are missing. A manifest the tag already names is not sent again:
a second push of an unchanged environment uploads nothing.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..prefix import state as prefix_state
from ..prefix.lock import PrefixLock
from ..ui import Console
from . import build
from .blobs import BlobCache, Store
from .unpack import os_errors

PARALLEL_UPLOADS = 3  # blobs in flight at once, as docker pushes


@dataclass
class PushReport:
    reference: str
    digest: str
    prefix: Path
    layers: list[dict[str, Any]] = field(default_factory=list)
    uploaded: int = 0
    uploaded_bytes: int = 0
    present: int = 0
    manifest_uploaded: bool = False
    built: int = 0
    seconds: float = 0.0

    def lines(self) -> list[str]:
        size = sum(layer["size"] for layer in self.layers)
        sent = "nothing new" if not self.uploaded and not self.manifest_uploaded else (
            f"{self.uploaded} blobs ({_mib(self.uploaded_bytes)})" + (" and the manifest" if self.manifest_uploaded else ""))
        return [f"Pushed {self.prefix} -> {self.reference} ({len(self.layers)} layers, {_mib(size)}): uploaded {sent}, "
                f"{self.present} blobs already there, in {self.seconds:.1f}s", f"digest: {self.digest}"]

    def as_data(self) -> dict[str, Any]:
        return {"reference": self.reference, "digest": self.digest, "prefix": str(self.prefix), "layers": self.layers,
                "uploaded": {"blobs": self.uploaded, "bytes": self.uploaded_bytes, "manifest": self.manifest_uploaded},
                "present": self.present, "built_layers": self.built}


def _mib(size: int) -> str:
    return f"{size / 1048576:.1f} MiB"


def push(prefix: Path, store: Store, console: Console) -> PushReport:
    with os_errors(prefix, f"pushing {prefix} to {store.name}"):
        return _push(prefix, store, console)


def _push(prefix: Path, store: Store, console: Console) -> PushReport:
    started = time.monotonic()
    blobs = BlobCache()
    console.progress("building the image layers ...")
    with _prefix_lock(prefix):
        image = build.build(prefix, blobs)
    console.done_progress()
    report = PushReport(store.name, image.digest, prefix, built=len(image.layers) - len(image.reused))
    report.layers = [{"digest": built.digest, "size": built.size, "packages": list(plan.packages) or [plan.name]}
                     for plan, built in image.layers]
    with console.task(f"pushing to {store.name}", len(image.blobs)) as task:
        def one(blob: tuple[str, int]) -> bool:
            digest, size = blob
            sent = not store.has_blob(digest)
            if sent:
                store.put_blob(digest, blobs.path(digest), size)
            task.advance()
            return sent

        with ThreadPoolExecutor(max_workers=PARALLEL_UPLOADS) as pool:
            sent = list(pool.map(one, image.blobs))
    report.uploaded = sum(sent)
    report.uploaded_bytes = sum(size for (_, size), was in zip(image.blobs, sent) if was)
    report.present = len(sent) - report.uploaded
    if not store.tagged(image.digest):
        store.put_manifest(image.manifest, build.OCI_MANIFEST, image.platform)
        report.manifest_uploaded = True
    report.seconds = time.monotonic() - started
    return report


def _prefix_lock(prefix: Path):
    """The prefix lock while the layers are read (an install must not change files under us); a
    read-only prefix (a mounted image) cannot change, and takes none."""
    state_dir = prefix / prefix_state.STATE_DIR
    if state_dir.is_dir() and os.access(state_dir, os.W_OK):
        return PrefixLock(prefix)
    return nullcontext()

"""An OCI image layout on disk (``oci:PATH[:TAG]``): ``oci-layout``, ``index.json``, ``blobs/sha256/``.

The tag is the index entry's ``org.opencontainers.image.ref.name`` annotation, as skopeo and
umoci write it; without a tag, the layout must hold exactly one image to read, and pushing
replaces the untagged entry. Blobs and ``index.json`` are written through temp files and
``os.replace``: a killed push never leaves half a blob under its digest's name.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from pathlib import Path

from .. import cache
from ..errors import InputError, IntegrityError
from .blobs import digest_of, hex_of
from .build import OCI_INDEX, canonical
from .reference import LayoutRef

REF_NAME = "org.opencontainers.image.ref.name"
LAYOUT_FILE = "oci-layout"
LAYOUT_VERSION = {"imageLayoutVersion": "1.0.0"}


class LayoutStore:
    def __init__(self, ref: LayoutRef) -> None:
        self.ref = ref
        self.root = ref.path
        self.name = str(ref)
        self._prepared = threading.Lock()  # blobs are put from several threads

    # reading
    def resolve(self) -> tuple[bytes, str]:
        data, media_type = self.manifest(self._find(self._index())["digest"])
        return data, media_type

    def manifest(self, digest: str) -> tuple[bytes, str]:
        path = self._blob(digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError as err:
            raise InputError(f"{self.name}: the manifest {digest} is missing from blobs/") from err
        if digest_of(data) != digest:
            raise IntegrityError(f"{self.name}: the manifest {digest} does not match its digest")
        return data, str(json.loads(data).get("mediaType", ""))

    def has_blob(self, digest: str) -> bool:
        return self._blob(digest).is_file()

    def get_blob(self, digest: str, target: Path) -> None:
        try:
            shutil.copyfile(self._blob(digest), target)
        except FileNotFoundError as err:
            raise InputError(f"{self.name}: the blob {digest} is missing from blobs/") from err

    def tagged(self, digest: str) -> bool:
        if not (self.root / "index.json").is_file():
            return False
        return any(d.get("digest") == digest for d in self._entries_for_tag(self._index()))

    # writing
    def put_blob(self, digest: str, path: Path, size: int) -> None:
        self._prepare()
        target = self._blob(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        sha = hashlib.sha256()
        with path.open("rb") as source, temp.open("wb") as out:
            for chunk in iter(lambda: source.read(1 << 20), b""):
                sha.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if f"sha256:{sha.hexdigest()}" != digest:
            temp.unlink()
            raise IntegrityError(f"the cached blob {digest} is corrupted (its bytes hash to sha256:{sha.hexdigest()})",
                                 hint=f"remove it from {cache.root() / cache.OCI_BLOBS} and push again")
        os.chmod(temp, 0o644)
        os.replace(temp, target)

    def put_manifest(self, data: bytes, media_type: str, platform: dict[str, str]) -> None:
        digest = digest_of(data)
        if not self.has_blob(digest):
            temp = self.root / f".manifest-{hex_of(digest)}.{os.getpid()}.tmp"
            temp.write_bytes(data)
            self.put_blob(digest, temp, len(data))
            temp.unlink()
        with cache.file_lock(self._lock_path(), f"the image layout {self.root}"):
            index = self._index() if (self.root / "index.json").is_file() else {
                "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
            stale = self._entries_for_tag(index)
            descriptor = {"mediaType": media_type, "digest": digest, "size": len(data), "platform": platform}
            if self.ref.tag:
                descriptor["annotations"] = {REF_NAME: self.ref.tag}
            index["manifests"] = [d for d in index.get("manifests", []) if d not in stale] + [descriptor]
            _write_atomic(self.root / "index.json", canonical(index))

    # helpers
    def _prepare(self) -> None:
        with self._prepared:
            self._make_layout()

    def _make_layout(self) -> None:
        layout_file = self.root / LAYOUT_FILE
        if layout_file.is_file():
            return
        if self.root.exists() and (not self.root.is_dir() or any(self.root.iterdir())):
            raise InputError(f"{self.root}: exists and is not an OCI image layout (no {LAYOUT_FILE} file)",
                             hint="name a new or empty folder, or an existing layout")
        (self.root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        _write_atomic(layout_file, canonical(LAYOUT_VERSION))

    def _index(self) -> dict:
        try:
            return json.loads((self.root / "index.json").read_text())
        except FileNotFoundError as err:
            raise InputError(f"{self.root}: not an OCI image layout (no index.json)") from err
        except ValueError as err:
            raise InputError(f"{self.root}/index.json: not valid JSON ({err})") from err

    def _entries_for_tag(self, index: dict) -> list[dict]:
        return [d for d in index.get("manifests", []) if (d.get("annotations") or {}).get(REF_NAME) == self.ref.tag]

    def _find(self, index: dict) -> dict:
        found = self._entries_for_tag(index)
        if not found and self.ref.tag is None and len(index.get("manifests", [])) == 1:
            found = index["manifests"]
        if len(found) != 1:
            tags = sorted({(d.get("annotations") or {}).get(REF_NAME, "(untagged)") for d in index.get("manifests", [])})
            what = f"no image tagged {self.ref.tag!r}" if self.ref.tag else "more than one image and no tag was given"
            raise InputError(f"{self.name}: {what} (the layout holds: {', '.join(tags) or 'nothing'})",
                             hint=f"name one: oci:{self.root}:TAG")
        return found[0]

    def _blob(self, digest: str) -> Path:
        return self.root / "blobs" / "sha256" / hex_of(digest)

    def _lock_path(self) -> Path:
        return cache.root() / "locks" / f"layout-{hashlib.sha256(str(self.root).encode()).hexdigest()[:16]}.lock"


def _write_atomic(path: Path, data: bytes) -> None:
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.write_bytes(data)
    os.chmod(temp, 0o644)
    os.replace(temp, path)

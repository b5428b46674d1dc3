"""The lockfile, the spine every stage reads: its model (read, write), exports, diffs, input digests.

``from materialize import lockfile`` gives the model's names; the other modules are imported by name."""

from .model import FORMAT, HEADER, CondaEntry, Lock, PipEntry, Prerendered, file_digest, read, write

__all__ = ["FORMAT", "HEADER", "CondaEntry", "Lock", "PipEntry", "Prerendered", "file_digest", "read", "write"]

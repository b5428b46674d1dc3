"""verify --image: hold a prefix against an image's own expected state, not the prefix's record of it.

Only the image's manifest, config and last layer (its ``.materialize/`` state: a few hundred KB)
are fetched and verified; every file of the prefix is then compared with what the image says it
holds (bytes, mode, link target, nothing unexpected). A prefix whose files and records were both
changed is caught, and so is a host that runs another build than the registry's. Like verify, it
only reads the prefix: it works on a read-only mount.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError, IntegrityError
from ..prefix import expected as prefix_expected, state as prefix_state, tree
from ..prefix.verify import KINDS, NO_PACKAGE, FileDrift, VerifyReport
from . import pull, unpack
from .blobs import BlobCache, Store


@dataclass
class ImageCheck:
    report: VerifyReport
    reference: str
    digest: str

    def lines(self) -> list[str]:
        report = self.report
        if report.ok:
            return [f"{report.prefix} matches the image {self.reference} ({self.digest[:19]}): "
                    f"{report.checked} files checked"]
        counts = ", ".join(f"{sum(1 for d in report.files if d.kind == k)} {k}" for k in KINDS)
        return [f"{report.prefix} differs from the image {self.reference}: {counts} files, "
                f"{len(report.problems)} other problems", *report.lines()[1:]]

    def as_data(self) -> dict[str, Any]:
        return {**self.report.as_data(), "image": self.reference, "digest": self.digest}

    def raise_on_drift(self) -> None:
        if not self.report.ok:
            raise IntegrityError(f"{self.report.prefix} does not match the image {self.reference}",
                                 hint=f"materialize pull --repair {self.reference} --prefix {self.report.prefix}",
                                 data=self.as_data())


def check(store: Store, prefix: Path) -> ImageCheck:
    if not prefix.is_dir():
        raise InputError(f"{prefix}: no such environment directory", hint=f"materialize pull {store.name} --prefix DIR")
    manifest, digest = pull.image_manifest(store)
    pull.check_target(store.name, manifest.get("annotations") or {}, prefix)
    blobs = BlobCache()
    descriptor, diff_id = pull.layer_descriptors(store, manifest, blobs)[-1]
    state = pull.image_state(store.name, unpack.Layer(pull.fetch_blob(store, blobs, descriptor)[0], diff_id), prefix)
    report = VerifyReport(prefix, None)
    stamp = prefix_state.read_stamp(prefix)
    if stamp is None:
        report.problems.append("the last install or pull did not finish (no stamp in .materialize/)")
    elif stamp.lock_digest != state.stamp.get("lock_digest"):
        report.problems.append(f"built from another lockfile than the image (lock digest {stamp.lock_digest[:12]} "
                               f"!= {str(state.stamp.get('lock_digest'))[:12]})")
    recorded = prefix_expected.read(prefix)
    if recorded is not None and recorded.to_json() != state.expected.to_json():
        report.problems.append("the prefix's record of its expected state differs from the image's")
    files = state.expected.files()
    drift = tree.compare(prefix, files)
    report.checked = drift.checked
    owners = state.expected.owners()
    for kind in KINDS:
        report.files += [FileDrift(kind, path, owners.get(path, NO_PACKAGE)) for path in getattr(drift, kind)]
    return ImageCheck(report, store.name, digest)


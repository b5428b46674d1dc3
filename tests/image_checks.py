"""Helpers for the image tests: one installed environment, put back at its path or cleared per test."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import Cli
from tests.prefix_checks import snapshot


@dataclass(frozen=True)
class Built:
    prefix: Path  # where the environment was installed: the only path its image pulls into
    layout: Path  # its image, pushed to an OCI layout (tag v1)
    copy: Path  # a copy of the installed tree, to put back at ``prefix``
    tree: dict  # snapshot of the installed tree

    def put_back(self) -> "Built":
        self.clear()
        shutil.copytree(self.copy, self.prefix, symlinks=True)
        return self

    def clear(self) -> "Built":
        if self.prefix.exists():
            shutil.rmtree(self.prefix)
        return self


def build_once(root: Path, project: Path, cache: Path) -> Built:
    env = {"MATERIALIZE_CACHE_DIR": str(cache)}
    prefix = root / "env"
    Cli().ok("install", project, "--prefix", prefix, env=env)
    Cli().ok("push", "--prefix", prefix, f"oci:{root / 'layout'}:v1", env=env)
    shutil.copytree(prefix, root / "copy", symlinks=True)
    return Built(prefix, root / "layout", root / "copy", snapshot(prefix))

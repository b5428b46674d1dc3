"""Conda platform (subdir) names, without importing rattler (the no-op install path uses this)."""

from __future__ import annotations

import os
import sys

KNOWN = ("linux-64", "linux-aarch64", "linux-ppc64le", "linux-s390x", "osx-64", "osx-arm64", "win-64", "win-arm64")


def host() -> str:
    if hasattr(os, "uname"):
        machine = os.uname().machine.lower()  # what platform.machine() returns here, without its import
    else:  # pragma: no cover - Windows
        import platform

        machine = platform.machine().lower()
    if sys.platform.startswith("linux"):
        return {"x86_64": "linux-64", "amd64": "linux-64", "aarch64": "linux-aarch64", "arm64": "linux-aarch64",
                "ppc64le": "linux-ppc64le", "s390x": "linux-s390x"}.get(machine, f"linux-{machine}")
    if sys.platform == "darwin":
        return "osx-arm64" if machine == "arm64" else "osx-64"
    if sys.platform == "win32":
        return "win-arm64" if machine == "arm64" else "win-64"
    return f"{sys.platform}-{machine}"

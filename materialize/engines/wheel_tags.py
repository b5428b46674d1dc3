"""Which wheel of a locked version fits a conda platform and a Python version (best tag first)."""

from __future__ import annotations

from packaging import tags
from packaging.utils import parse_wheel_filename

from ..errors import InputError

_LINUX_ARCH = {"linux-64": "x86_64", "linux-aarch64": "aarch64", "linux-ppc64le": "ppc64le", "linux-s390x": "s390x"}
_OSX_ARCH = {"osx-64": "x86_64", "osx-arm64": "arm64"}
_WIN_ARCH = {"win-64": "win_amd64", "win-arm64": "win_arm64"}


# The manylinux glibc minor versions uv 0.13 accepts in --python-platform (2_17 is manylinux2014).
_UV_GLIBC_MINORS = (17, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40)
_UV_TARGETS = {"osx-arm64": "aarch64-apple-darwin", "osx-64": "x86_64-apple-darwin",
               "win-64": "x86_64-pc-windows-msvc", "win-arm64": "aarch64-pc-windows-msvc"}


def uv_platform(platform: str, glibc: str = "2.28") -> str:
    """The conda subdir as uv's --python-platform; glibc is rounded down to a target uv knows."""
    if platform in ("linux-64", "linux-aarch64"):
        minor = int(glibc.split(".")[1]) if glibc.startswith("2.") and glibc.split(".")[1].isdigit() else 0
        known = [m for m in _UV_GLIBC_MINORS if m <= minor]
        if not known:
            raise InputError(f"__glibc {glibc!r}: uv can lock PyPI packages only for glibc >= 2.17 "
                             f"(platform {platform})", hint="set virtual-packages.__glibc to 2.17 or newer")
        return f"{_LINUX_ARCH[platform]}-manylinux_2_{known[-1]}"
    if platform in _UV_TARGETS:
        return _UV_TARGETS[platform]
    raise InputError(f"PyPI packages cannot be locked for {platform}: uv has no target platform for it",
                     hint="lock that platform for a project without requirements, or drop it from the platforms")


def uv_environment(platform: str, osx: str = "11.0") -> dict[str, str]:
    """Environment uv needs for the target: the macOS version (uv assumes 13.0 without it)."""
    return {"MACOSX_DEPLOYMENT_TARGET": osx} if platform in _OSX_ARCH else {}


def _platforms(platform: str, glibc: str, osx: str) -> list[str]:
    if platform in _LINUX_ARCH:
        arch = _LINUX_ARCH[platform]
        major, minor = (int(p) for p in glibc.split(".")[:2])
        names = [f"manylinux_{major}_{m}_{arch}" for m in range(minor, 4, -1)]
        legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
        names += [f"{legacy[m]}_{arch}" for m in legacy if m <= minor]
        return names + [f"linux_{arch}"]
    if platform in _OSX_ARCH:
        version = tuple(int(p) for p in osx.split(".")[:2])
        return list(tags.mac_platforms(version, _OSX_ARCH[platform]))  # type: ignore[arg-type]
    if platform in _WIN_ARCH:
        return [_WIN_ARCH[platform]]
    return []


def ranked_tags(platform: str, python: str, glibc: str = "2.28", osx: str = "11.0") -> dict[tags.Tag, int]:
    version = tuple(int(p) for p in python.split(".")[:2])
    platforms = _platforms(platform, glibc, osx)
    interpreter = f"cp{version[0]}{version[1]}"
    ordered = list(tags.cpython_tags(version, platforms=platforms))
    ordered += list(tags.compatible_tags(version, interpreter, platforms))
    return {tag: rank for rank, tag in reversed(list(enumerate(ordered)))}


def best_wheel(filenames: list[str], ranks: dict[tags.Tag, int]) -> int | None:
    """Index of the best-fitting wheel in ``filenames``, or None when none fits."""
    best: tuple[int, int] | None = None
    for index, name in enumerate(filenames):
        try:
            wheel_tags = parse_wheel_filename(name)[3]
        except ValueError:
            continue
        rank = min((ranks[t] for t in wheel_tags if t in ranks), default=None)
        if rank is not None and (best is None or rank < best[0]):
            best = (rank, index)
    return None if best is None else best[1]

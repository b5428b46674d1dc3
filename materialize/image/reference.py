"""Image references as docker, podman and skopeo spell them.

``oci:PATH[:TAG]`` is an OCI image layout on disk (skopeo's transport: the path ends at the first
``:``). Anything else is a registry reference, ``[docker://][HOST[:PORT]/]REPO[:TAG][@sha256:HEX]``:
the first component is a registry host when it holds a ``.`` or a ``:`` or is ``localhost``,
otherwise the image is on Docker Hub (``docker.io``, whose one-component repositories live under
``library/``), as docker resolves it.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
DEFAULT_TAG = "latest"
_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_HOST = re.compile(r"(?:[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?")


@dataclass(frozen=True)
class LayoutRef:
    """An OCI image layout folder and, optionally, the tag (``org.opencontainers.image.ref.name``)."""

    path: Path
    tag: str | None = None

    def __str__(self) -> str:
        return f"oci:{self.path}" + (f":{self.tag}" if self.tag else "")


@dataclass(frozen=True)
class RegistryRef:
    registry: str  # host[:port] as the user named it (docker.io for Docker Hub)
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def api_host(self) -> str:
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def reference(self) -> str:
        """What goes after ``/manifests/``: the digest when one was given, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    @property
    def loopback(self) -> bool:
        return is_loopback(self.api_host)

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        return text + (f"@{self.digest}" if self.digest else "")


def parse(text: str) -> LayoutRef | RegistryRef:
    if text.startswith("oci:"):
        return _layout(text[len("oci:"):], text)
    rest = text[len("docker://"):] if text.startswith("docker://") else text
    return _registry(rest, text)


def _layout(rest: str, text: str) -> LayoutRef:
    path, _, tag = rest.partition(":")
    if not path:
        raise UsageError(f"{text!r}: an oci: reference needs a folder (oci:PATH[:TAG])")
    if tag and not _TAG.fullmatch(tag):
        raise UsageError(f"{text!r}: {tag!r} is not a valid tag")
    return LayoutRef(Path(path).expanduser().resolve(), tag or None)


def _registry(rest: str, text: str) -> RegistryRef:
    name, _, digest = rest.partition("@")
    if digest and not _DIGEST.fullmatch(digest):
        raise UsageError(f"{text!r}: {digest!r} is not a sha256 digest (sha256:<64 hex digits>)")
    first, slash, remainder = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        if not _HOST.fullmatch(first):
            raise UsageError(f"{text!r}: {first!r} is not a registry host")
        registry, path = first.lower(), remainder
    else:
        registry, path = DOCKER_HUB, name
    tag = None
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        path, _, tag = path.rpartition(":")
        if not _TAG.fullmatch(tag):
            raise UsageError(f"{text!r}: {tag!r} is not a valid tag")
    components = path.split("/")
    if not path or not all(_COMPONENT.fullmatch(c) for c in components):
        raise UsageError(f"{text!r}: {path!r} is not a repository name (lowercase letters, digits, . _ - and /)",
                         hint="e.g. 127.0.0.1:5000/team/env:v1 or oci:./layout:v1")
    if registry == DOCKER_HUB and len(components) == 1:
        path = f"library/{path}"
    return RegistryRef(registry, path, tag, digest or None)


def is_loopback(host_port: str) -> bool:
    host = host_port.rsplit(":", 1)[0] if not host_port.endswith("]") else host_port
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

"""A reference as the user typed it -> the `Store` that holds it (a layout on disk or a registry)."""

from __future__ import annotations

from dataclasses import dataclass

from ..secrets import Secret
from . import credentials, reference
from .blobs import Store


@dataclass(frozen=True)
class Access:
    """How to reach a registry: the login given on the command line, and which hosts may use plain HTTP."""

    username: str | None = None
    password: Secret | None = None  # read from stdin by the CLI; never from argv
    insecure: bool = False  # --insecure
    insecure_registries: tuple[str, ...] = ()  # the `insecure-registries` setting


def open_store(text: str, access: Access, *, push: bool) -> Store:
    ref = reference.parse(text)
    if isinstance(ref, reference.LayoutRef):
        from .layout import LayoutStore

        return LayoutStore(ref)
    from .registry import RegistryStore

    login = credentials.from_flags(access.username, access.password) or credentials.find(ref.registry, ref.repository)
    insecure = access.insecure or ref.registry in access.insecure_registries or ref.api_host in access.insecure_registries
    return RegistryStore(ref, login, insecure=insecure, push=push)
